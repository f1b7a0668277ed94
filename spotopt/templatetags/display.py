"""Display helpers for every page: money, durations, moments and status badges (`{% load display %}`)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django import template
from django.apps import apps
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from spotopt.presentation import badge_tone

register = template.Library()

MINUS = "\u2212"


@register.filter
def dollars(value, places=2) -> str:
    """$1,234.56 (a minus sign U+2212 when negative); "" for None, so a template can say "unknown". A
    price too small for the places shows its first significant digit (up to six places): $0.00001 is not
    "$0.0000", which would read as free."""
    if value is None or value == "":
        return ""
    value = Decimal(value)
    sign = MINUS if value < 0 else ""
    places = int(places)
    magnitude = abs(value)
    while places < 6 and magnitude and magnitude < Decimal(1).scaleb(-places):
        places += 1
    return f"{sign}${magnitude:,.{places}f}"


@register.filter
def duration(seconds) -> str:
    """4.2 s, 3 min 5 s, 2 h 10 min: a stretch of time as people say it."""
    if seconds is None or seconds == "":
        return ""
    seconds = float(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """ "3 hours ago" ("just now" within a minute); "" for None."""
    if not moment:
        return ""
    now = now or timezone.now()
    if abs((now - moment).total_seconds()) < 60:
        return "just now"
    if moment > now:
        return f"in {timeuntil(moment, now)}"
    return f"{timesince(moment, now)} ago"


@register.simple_tag
def badge(obj, field_name: str, extra_class: str = "", suffix: str = ""):
    """<span class="badge badge--tone">Label</span> for a status field, toned by its app's presentation.py."""
    value = getattr(obj, field_name)
    label = getattr(obj, f"get_{field_name}_display")()
    tone = badge_tone(type(obj), field_name, value)
    classes = " ".join(filter(None, ["badge", f"badge--{tone}" if tone else "", extra_class]))
    return format_html('<span class="{}">{}{}</span>', classes, label, suffix)


@register.inclusion_tag("_sort_header.html", takes_context=True)
def sort_header(context, field: str, label: str, css_class: str = ""):
    """A table header that sorts the list by `field` (an ordering choice of the page's FilterSet), keeping
    the filters, resetting the page, and toggling the direction when it is the current sort."""
    request = context["request"]
    form = context["filterset"].form
    current = (
        (form.cleaned_data.get("ordering") if form.is_bound and hasattr(form, "cleaned_data") else None) or [""]
    )[0]
    active = current.lstrip("-") == field
    descending = current.startswith("-")
    params = request.GET.copy()
    params.pop("page", None)
    params["ordering"] = f"-{field}" if active and not descending else field
    return {
        "label": label,
        "class": css_class,
        "url": f"?{params.urlencode()}",
        "active": active,
        "aria_sort": ("descending" if descending else "ascending") if active else None,
        "arrow": ("▼" if descending else "▲") if active else "",
        "next": "descending" if active and not descending else "ascending",
    }


@register.simple_tag
def choice_badge(model_label: str, field_name: str, value, label: str = ""):
    """A badge for a bare value (a summary row), e.g. {% choice_badge "fleet.Instance" "lifecycle" row.value %}."""
    model = apps.get_model(model_label)
    label = label or dict(model._meta.get_field(field_name).flatchoices).get(value, value)
    tone = badge_tone(model, field_name, value)
    return format_html('<span class="{}">{}</span>', f"badge badge--{tone}" if tone else "badge", label)
