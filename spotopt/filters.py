"""What every FilterSet shares: the form the list pages render as their filter bar (templates/_filter_bar.html)
and the widgets it is drawn with. The same FilterSet serves the page and the API, so a filter exists in both
or in neither; the widgets only decide how a page shows it.
"""

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend


class FilterForm(forms.Form):
    """The filter bar's form: ids `filter-<name>`, labels without a colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "filter-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class FilterSet(django_filters.FilterSet):
    class Meta:
        form = FilterForm


class FilterBackend(DjangoFilterBackend):
    """The API's filter backend: a request that names none of the view's filters is not filtered at all, so
    a plain list does not build and validate a form of a dozen filters it does not use."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not set(request.query_params) & set(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


class SearchInput(forms.TextInput):
    input_type = "search"


class AnySelect(forms.Select):
    """One dropdown for a multiple-choice filter: an "Any …" option first, and it still takes the value
    repeated in a link (?status=a&status=b), which shows as the first of them selected."""

    allow_multiple_selected = True

    def __init__(self, *, any_label: str, attrs=None):
        super().__init__(attrs)
        self.any_label = any_label

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].pop("multiple", None)
        return context

    def optgroups(self, name, value, attrs=None):
        groups = super().optgroups(name, value, attrs)
        selected = any(option["selected"] for _, options, _ in groups for option in options)
        empty = self.create_option(name, "", self.any_label, not selected, 0)
        return [(None, [empty], 0), *groups]


class LabelledBooleanWidget(forms.Select):
    """A yes/no filter whose options say what they mean ("In shadow mode" rather than "Yes"). It reads
    true/false (any case of True/False as Python writes them), and anything else as "no filter"."""

    VALUES = {"true": True, "True": True, "false": False, "False": False}

    def __init__(self, *, any_label: str, yes: str, no: str, attrs=None):
        super().__init__(attrs, choices=[("", any_label), ("true", yes), ("false", no)])

    def format_value(self, value):
        return [{True: "true", False: "false"}.get(self.VALUES.get(value, value), "")]

    def value_from_datadict(self, data, files, name):
        return self.VALUES.get(data.get(name))


class Datalist(forms.TextInput):
    """A text filter that suggests values (an HTML datalist), e.g. the instance types of the price catalog."""

    template_name = "spotopt/widgets/datalist.html"

    def __init__(self, *, suggestions=(), attrs=None):
        super().__init__(attrs)
        self.suggestions = suggestions

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["list"] = f"{context['widget']['attrs'].get('id', name)}-suggestions"
        context["widget"]["suggestions"] = self.suggestions() if callable(self.suggestions) else self.suggestions
        return context


class NullsLastOrderingFilter(django_filters.OrderingFilter):
    """Sorting where rows without a value (an unknown price) come last whichever the direction, and a
    unique `tiebreak` column keeps the order stable from page to page."""

    def __init__(self, *args, tiebreak: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tiebreak = tiebreak

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        ordering = []
        for param in value:
            field = self.get_ordering_value(param)
            name = field.lstrip("-")
            expression = models.F(name)
            ordering.append(
                expression.desc(nulls_last=True) if field.startswith("-") else expression.asc(nulls_last=True)
            )
        return qs.order_by(*ordering, self.tiebreak)
