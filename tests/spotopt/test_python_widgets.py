"""The filter bars' widgets are drawn in Python (spotopt.filters) for speed: the markup is Django's own,
tag for tag, and values are escaped."""

import re

from django import forms

from spotopt.filters import Datalist, SearchInput, Select


def tags(html: str) -> str:
    """The markup without the whitespace Django's templates put between tags."""
    return re.sub(r">\s+<", "><", str(html)).strip()


CHOICES = [("", "Any"), ("spot", "Spot"), ("on-demand", 'On "demand" <b>')]


def test_a_select_draws_what_django_draws_with_the_value_selected():
    attrs = {"id": "filter-lifecycle", "data-x": 'a"b', "required": True, "disabled": False}
    for value in ("", "spot", "on-demand", "<script>"):
        ours = Select(choices=CHOICES).render("lifecycle", value, attrs=attrs)
        django = forms.Select(choices=CHOICES).render("lifecycle", value, attrs=attrs)
        assert tags(ours) == tags(django)
    assert "<b>" not in Select(choices=CHOICES).render("lifecycle", "")


def test_a_select_with_groups_draws_its_optgroups():
    grouped = [("Compute", [("c5", "c5"), ("m5", "m5")]), ("", "None")]
    ours = Select(choices=grouped).render("type", "m5")
    assert tags(ours) == tags(forms.Select(choices=grouped).render("type", "m5"))


def test_a_search_box_draws_what_django_draws():
    for value in (None, "", 'web "1" <x>'):
        ours = SearchInput(attrs={"placeholder": "Id, name"}).render("q", value, attrs={"id": "filter-q"})
        django = forms.TextInput(attrs={"placeholder": "Id, name"})
        django.input_type = "search"
        assert tags(ours) == tags(django.render("q", value, attrs={"id": "filter-q"}))


def test_a_datalist_suggests_every_value_escaped():
    html = Datalist(suggestions=lambda: ["m5.large", '"><script>']).render("type", "m5", attrs={"id": "filter-type"})
    assert '<input type="text" name="type" value="m5" id="filter-type" list="filter-type-suggestions">' in html
    assert '<datalist id="filter-type-suggestions"><option value="m5.large">' in html
    assert "<script>" not in html and "&quot;&gt;&lt;script&gt;" in html
