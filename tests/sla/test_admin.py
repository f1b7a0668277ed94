"""Admin for the downtime log."""

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from sla.choices import DowntimeCause
from sla.models import DowntimeLog
from tests.helpers import changelist_query_count

DOWNTIME_CHANGELIST = reverse("admin:sla_downtimelog_changelist")


def make_downtime(**overrides):
    started_at = timezone.now() - timedelta(hours=1)
    fields = {
        "started_at": started_at,
        "ended_at": started_at + timedelta(seconds=12, milliseconds=500),
        "cause": DowntimeCause.EMERGENCY_SWITCH,
    }
    fields.update(overrides)
    return DowntimeLog.objects.create(**fields)


def test_downtime_changelist_shows_duration_and_references(
    client, super_admin, client_user, make_account, make_instance
):
    account = make_account(client_user, account_id="999988887777")
    make_downtime(account=account, instance=make_instance(account, instance_id="i-0dt00000000000001"), user=client_user)
    client.force_login(super_admin)
    response = client.get(DOWNTIME_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "12.500" in content
    assert "999988887777" in content
    assert "i-0dt00000000000001" in content
    assert '<td class="field-cause">Emergency switch</td>' in content


def test_downtime_search_by_aws_account_id(client, super_admin):
    make_downtime(aws_account_ref="111111111111", instance_ref="i-0dt0000000000wanted")
    make_downtime(aws_account_ref="222222222222", instance_ref="i-0dt00000000000other")
    client.force_login(super_admin)
    content = client.get(DOWNTIME_CHANGELIST, {"q": "111111111111"}).content.decode()
    assert "i-0dt0000000000wanted" in content
    assert "i-0dt00000000000other" not in content


def test_downtime_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_account):
    client.force_login(super_admin)

    def add_rows(count):
        for _ in range(count):
            user = make_user()
            make_downtime(account=make_account(user), user=user)

    add_rows(2)
    few = changelist_query_count(client, DOWNTIME_CHANGELIST)
    add_rows(8)
    assert changelist_query_count(client, DOWNTIME_CHANGELIST) == few


def test_downtime_computed_fields_are_read_only(client, super_admin, client_user, make_account):
    log = make_downtime(account=make_account(client_user))
    client.force_login(super_admin)
    response = client.get(reverse("admin:sla_downtimelog_change", args=[log.pk]))
    assert response.status_code == 200
    editable = set(response.context["adminform"].form.fields)
    assert {"duration_seconds", "aws_account_ref", "instance_ref", "account", "instance"}.isdisjoint(editable)
    assert {"started_at", "ended_at", "cause", "details"} <= editable


def test_downtime_added_in_the_admin_gets_its_duration_computed(client, super_admin, client_user, make_account):
    account = make_account(client_user, account_id="555566667777")
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:sla_downtimelog_add"),
        {
            "account": account.pk,
            "started_at_0": "2025-03-01",
            "started_at_1": "10:00:00",
            "ended_at_0": "2025-03-01",
            "ended_at_1": "10:00:42",
            "duration_seconds": "1",
            "cause": DowntimeCause.WORKER_CRASH,
            "details": "Worker restarted mid-switch",
        },
    )
    assert response.status_code == 302
    log = DowntimeLog.objects.get(details="Worker restarted mid-switch")
    assert log.duration_seconds == Decimal("42.000")
    assert log.aws_account_ref == "555566667777"


def test_downtime_cannot_end_before_it_starts(client, super_admin):
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:sla_downtimelog_add"),
        {
            "started_at_0": "2025-03-01",
            "started_at_1": "10:00:00",
            "ended_at_0": "2025-03-01",
            "ended_at_1": "09:59:00",
            "cause": DowntimeCause.WORKER_CRASH,
        },
    )
    assert response.status_code == 200  # the form again, with the constraint's error
    assert response.context["adminform"].form.errors
    assert not DowntimeLog.objects.exists()
