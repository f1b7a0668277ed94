"""What every FilterSet shares: the form the list pages render as their filter bar (templates/_filter_bar.html)
and the widgets it is drawn with. The same FilterSet serves the page and the API, so a filter exists in both
or in neither; the widgets only decide how a page shows it.
"""

import datetime
import functools

import django_filters
from django import forms
from django.db import models
from django.utils.html import format_html, format_html_join
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


# --- Widgets drawn in Python ------------------------------------------------------------------------------
# Django draws a widget through templates: a select of 20 options is 40 template includes. A filter bar of a
# dozen widgets cost more than the page's whole table; these draw the same HTML directly.


def _attrs_html(attrs: dict) -> str:
    """What django/forms/widgets/attrs.html renders: ` name="value"`, a bare ` name` for True, nothing for False."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html(" {}", k) if v is True else format_html(' {}="{}"', k, v),)
            for k, v in attrs.items()
            if v is not False
        ),
    )


def _input_html(widget: dict) -> str:
    value = "" if widget["value"] is None else format_html(' value="{}"', widget["value"])
    return format_html(
        '<input type="{}" name="{}"{}{}>', widget["type"], widget["name"], value, _attrs_html(widget["attrs"])
    )


def _options_html(options) -> str:
    return format_html_join(
        "", '<option value="{}"{}>{}</option>', ((o["value"], _attrs_html(o["attrs"]), o["label"]) for o in options)
    )


class Select(forms.Select):
    """forms.Select, drawn in Python (the same markup as Django's template)."""

    def _render(self, template_name, context, renderer=None):
        widget = context["widget"]
        groups = format_html_join(
            "",
            "{}",
            (
                (
                    format_html('<optgroup label="{}">{}</optgroup>', name, _options_html(options))
                    if name
                    else _options_html(options),
                )
                for name, options, _ in widget["optgroups"]
            ),
        )
        return format_html('<select name="{}"{}>{}</select>', widget["name"], _attrs_html(widget["attrs"]), groups)


class SearchInput(forms.TextInput):
    input_type = "search"

    def _render(self, template_name, context, renderer=None):
        return _input_html(context["widget"])


class AnySelect(Select):
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

    def value_from_datadict(self, data, files, name):
        # The "Any …" option submits an empty value: it means no filter, not an invalid choice.
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None or isinstance(values, str):
            values = [] if not values else [values]
        return [value for value in values if value != ""]

    def optgroups(self, name, value, attrs=None):
        groups = super().optgroups(name, value, attrs)
        selected = any(option["selected"] for _, options, _ in groups for option in options)
        empty = self.create_option(name, "", self.any_label, not selected, 0)
        return [(None, [empty], 0), *groups]


class LabelledBooleanWidget(Select):
    """A yes/no filter whose options say what they mean ("In shadow mode" rather than "Yes"). It reads
    true/false (any case of True/False as Python writes them), and anything else as "no filter"."""

    VALUES = {"true": True, "True": True, "false": False, "False": False}

    def __init__(self, *, any_label: str, yes: str, no: str, attrs=None):
        super().__init__(attrs, choices=[("", any_label), ("true", yes), ("false", no)])

    def format_value(self, value):
        return [{True: "true", False: "false"}.get(self.VALUES.get(value, value), "")]

    def value_from_datadict(self, data, files, name):
        return self.VALUES.get(data.get(name))


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment, read in UTC: any offset the text carries is applied here, so the database never
    sees one (PostgreSQL refuses an offset beyond ±15:59, year 200 with +23:00 say); one that leaves the
    calendar is a field error, not a crash."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(datetime.UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class DateTimePicker(forms.DateTimeInput):
    """The browser's date-and-time picker for a "from"/"until" filter: it sends 2026-12-03T07:00, which an
    IsoDateTimeFilter reads (as UTC, the product's time zone)."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class Datalist(forms.TextInput):
    """A text filter that suggests values (an HTML datalist), e.g. the instance types of the price catalog."""

    def __init__(self, *, suggestions=(), attrs=None):
        super().__init__(attrs)
        self.suggestions = suggestions

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["list"] = f"{context['widget']['attrs'].get('id', name)}-suggestions"
        suggestions = self.suggestions() if callable(self.suggestions) else self.suggestions
        context["widget"]["suggestions"] = tuple(suggestions)
        return context

    def _render(self, template_name, context, renderer=None):
        widget = context["widget"]
        return format_html(
            '{}<datalist id="{}">{}</datalist>',
            _input_html(widget),
            widget["attrs"]["list"],
            _suggestion_options(widget["suggestions"]),
        )


@functools.lru_cache(maxsize=16)
def _suggestion_options(suggestions: tuple) -> str:
    # Hundreds of instance types, the same on every page: drawn once.
    return format_html_join("", '<option value="{}">', ((value,) for value in suggestions))


class NullsLastOrderingFilter(django_filters.OrderingFilter):
    """Sorting where rows without a value (an unknown price) come last whichever the direction, and a
    unique `tiebreak` column keeps the order stable from page to page. The tiebreak goes the direction of
    the last sort column and NOT NULL columns keep the database's own NULLs placement, so a descending order
    is an index on (column, tiebreak) read backwards; only nullable columns need a descending index."""

    def __init__(self, *args, tiebreak: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tiebreak = tiebreak

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        ordering, names, descending = [], set(), False
        for param in value:
            field = self.get_ordering_value(param)
            name = field.lstrip("-")
            names.add(name)
            descending = field.startswith("-")
            expression = models.F(name)
            order = expression.desc if descending else expression.asc
            # SQLite sorts NULLs first ascending, PostgreSQL last: say it for the columns that have NULLs.
            ordering.append(order(nulls_last=True) if _nullable(qs.model, name) else order())
        if self.tiebreak not in names:
            ordering.append(models.F(self.tiebreak).desc() if descending else models.F(self.tiebreak).asc())
        return qs.order_by(*ordering)


def _nullable(model, path: str) -> bool:
    """Whether the field at the lookup path may be NULL (a relation on the way makes it so when it may)."""
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.null:
            return True
        model = field.related_model or model
    return False
