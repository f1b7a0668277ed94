"""How status values look on the pages: each app's presentation.py registers the badge tone of every value of
its status fields here (`register_badges`), and the `badge` template tag (spotopt.templatetags.display) reads
them. spotopt's AppConfig discovers the apps' presentation modules, so this module imports none of them.

Tones are the badge modifiers of spotopt.css: ok, info, warn, error, spot, or "" for the neutral grey badge.
"""

from django.db import models

_TONES: dict[tuple[str, str], dict[str, str]] = {}


def register_badges(model: type[models.Model], tones_by_field: dict[str, dict]) -> None:
    """`register_badges(ApprovalRequest, {"status": {...}, "risk_level": {...}})`: every value of each field
    needs a tone, so a new status cannot appear on a page unstyled by accident."""
    for field_name, tones in tones_by_field.items():
        values = {value for value, _ in model._meta.get_field(field_name).choices}
        missing = values - set(tones)
        if missing:
            raise ValueError(f"{model.__name__}.{field_name}: no badge tone for {sorted(missing)}")
        _TONES[(model._meta.label_lower, field_name)] = {str(value): tone for value, tone in tones.items()}


def badge_tone(model: type[models.Model], field_name: str, value) -> str:
    return _TONES[(model._meta.label_lower, field_name)].get(str(value), "")


def tones_of(model: type[models.Model], field_name: str) -> dict[str, str]:
    """The whole table (for a page's script that restyles a badge when the status changes)."""
    return dict(_TONES[(model._meta.label_lower, field_name)])
