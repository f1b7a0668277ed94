"""The display helpers every page uses (spotopt.templatetags.display)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template

from approvals.models import ApprovalRequest
from fleet.models import Instance
from spotopt.presentation import badge_tone, register_badges
from spotopt.templatetags.display import ago, dollars, duration

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (Decimal("1234.5"), 2, "$1,234.50"),
        (Decimal("0.0416"), 4, "$0.0416"),
        (Decimal("-3"), 2, "\u2212$3.00"),
        (Decimal("0"), 4, "$0.0000"),
        (Decimal("0.00001"), 4, "$0.00001"),  # moto's spot price: not "$0.0000", which reads as free
        ("0.25", 2, "$0.25"),
        (None, 2, ""),
    ],
)
def test_dollars(value, places, shown):
    assert dollars(value, places) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(4.2, "4.2 s"), (60, "1 min"), (185, "3 min 5 s"), (7800, "2 h 10 min"), (timedelta(hours=3), "3 h"), (None, "")],
)
def test_duration(seconds, shown):
    assert duration(seconds) == shown


def test_ago():
    assert ago(NOW - timedelta(seconds=20), NOW) == "just now"
    assert ago(NOW - timedelta(hours=3), NOW) == "3\xa0hours ago"
    assert ago(NOW + timedelta(days=2), NOW) == "in 2\xa0days"
    assert ago(None, NOW) == ""


def test_a_badge_takes_its_tone_from_the_apps_presentation_module():
    html = Template('{% load display %}{% badge approval "status" "badge--large" %}').render(
        Context({"approval": ApprovalRequest(status="PENDING")})
    )
    assert html == '<span class="badge badge--warn badge--large">Pending</span>'
    assert badge_tone(Instance, "lifecycle", "spot") == "spot"


def test_every_value_of_a_registered_field_needs_a_tone():
    with pytest.raises(ValueError, match=r"Instance\.lifecycle: no badge tone for \['spot'\]"):
        register_badges(Instance, {"lifecycle": {"on-demand": ""}})
