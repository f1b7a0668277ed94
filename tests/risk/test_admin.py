"""Admin for the spot pool memory and the append-only global risk events."""

import itertools
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from risk.choices import RiskEventType
from risk.models import GlobalRiskEvent, SpotPoolRisk
from tests.helpers import changelist_query_count

POOL_CHANGELIST = reverse("admin:risk_spotpoolrisk_changelist")
EVENT_CHANGELIST = reverse("admin:risk_globalriskevent_changelist")
_numbers = itertools.count(1)


def make_pool(**overrides):
    fields = {"region": "us-east-1", "availability_zone": "us-east-1a", "instance_type": f"m{next(_numbers)}.large"}
    fields.update(overrides)
    return SpotPoolRisk.objects.create(**fields)


def make_event(**overrides):
    fields = {
        "event_id": f"evt-{next(_numbers)}",
        "event_type": RiskEventType.TERMINATION_NOTICE,
        "region": "us-east-1",
        "availability_zone": "us-east-1b",
        "instance_type": "c5.large",
        "reported_at": timezone.now(),
    }
    fields.update(overrides)
    return GlobalRiskEvent.objects.create(**fields)


# --- Spot pools -----------------------------------------------------------------------------------------


def test_pool_changelist_shows_poisoned_pools(client, super_admin):
    now = timezone.now()
    make_pool(
        instance_type="r6i.2xlarge",
        is_poisoned=True,
        interruption_count=3,
        poisoned_at=now,
        poison_expires_at=now + timedelta(days=15),
    )
    client.force_login(super_admin)
    response = client.get(POOL_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "us-east-1:us-east-1a:r6i.2xlarge" in content
    assert '<td class="field-interruption_count">3</td>' in content


def test_pool_search_by_instance_type(client, super_admin):
    make_pool(instance_type="x2iedn.xlarge")
    make_pool(instance_type="t3.nano")
    client.force_login(super_admin)
    content = client.get(POOL_CHANGELIST, {"q": "x2iedn"}).content.decode()
    assert "x2iedn.xlarge" in content
    assert "t3.nano" not in content


def test_pool_changelist_queries_do_not_grow_with_rows(client, super_admin):
    client.force_login(super_admin)
    for _ in range(2):
        make_pool()
    few = changelist_query_count(client, POOL_CHANGELIST)
    for _ in range(8):
        make_pool()
    assert changelist_query_count(client, POOL_CHANGELIST) == few


def test_pool_identity_and_counters_are_read_only(client, super_admin):
    pool = make_pool(interruption_count=2)
    client.force_login(super_admin)
    response = client.get(reverse("admin:risk_spotpoolrisk_change", args=[pool.pk]))
    assert response.status_code == 200
    editable = set(response.context["adminform"].form.fields)
    assert editable == {"is_poisoned", "poisoned_at", "poison_expires_at", "pool_metadata"}


def test_pool_cannot_be_poisoned_without_dates(client, super_admin):
    pool = make_pool()
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:risk_spotpoolrisk_change", args=[pool.pk]), {"is_poisoned": "on", "pool_metadata": "{}"}
    )
    assert response.status_code == 200  # the form again, with the constraint's error
    assert response.context["adminform"].form.errors
    pool.refresh_from_db()
    assert not pool.is_poisoned


# --- Global risk events ---------------------------------------------------------------------------------


def test_event_changelist_shows_events(client, super_admin, client_user, make_account):
    make_event(event_id="evt-visible", instance_id="i-0ev00000000000001", account=make_account(client_user))
    client.force_login(super_admin)
    response = client.get(EVENT_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "us-east-1:us-east-1b:c5.large" in content
    assert "i-0ev00000000000001" in content
    assert "Interruption (termination) notice" in content


def test_event_search_by_event_id(client, super_admin):
    make_event(event_id="evt-wanted", instance_id="i-0ev0000000000wanted")
    make_event(event_id="evt-other", instance_id="i-0ev00000000000other")
    client.force_login(super_admin)
    content = client.get(EVENT_CHANGELIST, {"q": "evt-wanted"}).content.decode()
    assert "i-0ev0000000000wanted" in content
    assert "i-0ev00000000000other" not in content


def test_event_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_account):
    client.force_login(super_admin)
    for _ in range(2):
        make_event(account=make_account(make_user()))
    few = changelist_query_count(client, EVENT_CHANGELIST)
    for _ in range(8):
        make_event(account=make_account(make_user()))
    assert changelist_query_count(client, EVENT_CHANGELIST) == few


def test_event_of_a_deleted_account_still_shows(client, super_admin, client_user, make_account):
    account = make_account(client_user)
    event = make_event(instance_id="i-0orphan0000000000", account=account)
    account.delete()
    client.force_login(super_admin)
    for url in (EVENT_CHANGELIST, reverse("admin:risk_globalriskevent_change", args=[event.pk])):
        response = client.get(url)
        assert response.status_code == 200
        assert "i-0orphan0000000000" in response.content.decode()


def test_events_cannot_be_added_changed_or_deleted(client, super_admin):
    event = make_event()
    client.force_login(super_admin)
    change_url = reverse("admin:risk_globalriskevent_change", args=[event.pk])
    page = client.get(change_url)
    assert page.status_code == 200  # view only
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change_url, {"instance_id": "i-0tampered"}).status_code == 403
    delete_url = reverse("admin:risk_globalriskevent_delete", args=[event.pk])
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    # No bulk delete either: the action is not offered, and posting it anyway deletes nothing.
    assert "delete_selected" not in client.get(EVENT_CHANGELIST).content.decode()
    client.post(EVENT_CHANGELIST, {"action": "delete_selected", "_selected_action": [event.pk]})
    assert client.get(reverse("admin:risk_globalriskevent_add")).status_code == 403
    assert GlobalRiskEvent.objects.filter(pk=event.pk, instance_id=event.instance_id).exists()


def test_super_admin_releases_a_held_event_from_the_admin(client, super_admin, make_team, make_instance, settings):
    import json
    from pathlib import Path

    from risk.choices import HeldEventStatus, IngestChannel
    from risk.models import HeldRiskEvent
    from risk.services import risk_events_ingest

    settings.RISK_TENANT_POISONS_PER_HOUR = 0
    cast = make_team("Acme")
    instance = make_instance(cast.account, lifecycle="spot")
    event = json.loads((Path(__file__).parent / "fixtures" / "spot-interruption-warning.json").read_text())
    event |= {"account": cast.account.account_id, "region": instance.region}
    event["detail"] = {"instance-id": instance.instance_id, "instance-action": "terminate"}
    risk_events_ingest(body=json.dumps(event), channel=IngestChannel.SQS)
    held = HeldRiskEvent.objects.get()
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:risk_heldriskevent_changelist"), {"action": "release", "_selected_action": [held.pk]}
    )
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == HeldEventStatus.RELEASED and held.decided_by == super_admin
    assert SpotPoolRisk.objects.get(instance_type=instance.instance_type).is_poisoned
