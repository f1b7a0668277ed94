"""The risk pages (/risk/, events, held, rejected, an account's event channel) and their POSTs, through the
Django test client: who sees what, who may act, CSRF, query counts."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import EnvironmentType, Role
from risk.choices import HeldEventStatus
from risk.models import EventChannel, SpotPoolRisk
from tests.risk.factories import make_event, make_held, make_pool, make_rejected

pytestmark = pytest.mark.django_db

LISTS = ["risk_pools", "risk_events", "risk_held", "risk_rejected"]


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def acme(make_team):
    return make_team("Acme")


@pytest.fixture
def globex(make_team):
    return make_team("Globex")


@pytest.mark.parametrize("name", LISTS)
def test_the_lists_need_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_pools_page_shows_the_hive_to_everyone_and_names_no_tenant(acme, globex, make_user):
    pool = make_pool(triggering_customer_id=globex.team.pk)
    make_pool(5, poisoned=False)
    for who in (acme.viewer, make_user(Role.LAB)):
        page = html(signed_in(who).get(reverse("risk_pools")))
        assert pool.instance_type in page and "Poisoned" in page and "expires in" in page
        assert "c5.5xlarge" not in page  # poisoned pools by default
        assert "Globex" not in page and str(globex.team.pk) not in page
        assert "new poisons an hour" in page  # the per-tenant limit is explained
        assert 'name="reason"' not in page  # no lift form but for super_admins
    every = html(signed_in(acme.viewer).get(reverse("risk_pools") + "?poisoned="))
    assert "c5.5xlarge" in every


def test_a_super_admin_lifts_a_pool_from_the_page(make_user):
    pool = make_pool()
    boss = signed_in(make_user(Role.SUPER_ADMIN))
    page = html(boss.get(reverse("risk_pools")))
    assert reverse("risk_pool_lift", args=[pool.pk]) in page
    response = boss.post(reverse("risk_pool_lift", args=[pool.pk]), {"reason": "AWS confirmed capacity"}, follow=True)
    assert "lifted" in html(response)
    pool.refresh_from_db()
    assert not pool.is_poisoned and pool.pool_metadata["lifts"][0]["reason"] == "AWS confirmed capacity"


def test_a_lift_without_a_reason_is_refused_on_the_page(make_user):
    pool = make_pool()
    response = signed_in(make_user(Role.SUPER_ADMIN)).post(reverse("risk_pool_lift", args=[pool.pk]), {}, follow=True)
    assert "Say why" in html(response)
    pool.refresh_from_db()
    assert pool.is_poisoned


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER, Role.LAB, Role.ADMIN])
def test_only_super_admins_lift(make_user, role):
    pool = make_pool()
    response = signed_in(make_user(role)).post(reverse("risk_pool_lift", args=[pool.pk]), {"reason": "x"})
    assert response.status_code == 403
    assert SpotPoolRisk.objects.get().is_poisoned


def test_the_lift_needs_csrf(make_user):
    pool = make_pool()
    response = signed_in(make_user(Role.SUPER_ADMIN), enforce_csrf_checks=True).post(
        reverse("risk_pool_lift", args=[pool.pk]), {"reason": "x"}
    )
    assert response.status_code == 403 and SpotPoolRisk.objects.get().is_poisoned


def test_the_event_log_is_tenant_data(acme, globex, make_user):
    ours = make_event(acme.account, 0, instance_id="i-0aaaaaaaaaaaaaaaa")
    theirs = make_event(globex.account, 1, instance_id="i-0bbbbbbbbbbbbbbbb")
    page = html(signed_in(acme.viewer).get(reverse("risk_events")))
    assert ours.instance_id in page and theirs.instance_id not in page and "Globex" not in page
    admin = html(signed_in(make_user(Role.ADMIN)).get(reverse("risk_events")))
    assert ours.instance_id in admin and theirs.instance_id in admin
    lab = html(signed_in(make_user(Role.LAB)).get(reverse("risk_events")))
    assert ours.instance_id not in lab  # production accounts' events
    filtered = html(signed_in(acme.viewer).get(reverse("risk_events") + "?outcome=counted"))
    assert ours.instance_id not in filtered and "No event matches" in filtered


def test_held_events_are_released_or_dismissed_by_a_super_admin_only(acme, globex, make_user):
    held = make_held(acme.account)
    other = make_held(globex.account, 1)
    page = html(signed_in(acme.client).get(reverse("risk_held")))
    assert held.event.pool_id in page and "Waiting for a super_admin" in page
    assert other.event.instance_id not in page
    assert reverse("risk_held_release", args=[held.pk]) not in page
    assert signed_in(acme.client).post(reverse("risk_held_release", args=[held.pk])).status_code == 403
    assert signed_in(globex.client).post(reverse("risk_held_release", args=[held.pk])).status_code == 404

    boss = signed_in(make_user(Role.SUPER_ADMIN))
    assert reverse("risk_held_release", args=[held.pk]) in html(boss.get(reverse("risk_held")))
    done = html(boss.post(reverse("risk_held_release", args=[held.pk]), {"note": "genuine"}, follow=True))
    assert "Released" in done
    held.refresh_from_db()
    assert held.status == HeldEventStatus.RELEASED and held.decision_note == "genuine"
    assert SpotPoolRisk.objects.get(instance_type=held.event.instance_type).is_poisoned
    boss.post(reverse("risk_held_dismiss", args=[other.pk]))
    other.refresh_from_db()
    assert other.status == HeldEventStatus.DISMISSED
    assert "genuine" in html(boss.get(reverse("risk_held") + "?status="))


def test_rejected_ingests_are_tenant_data(acme, globex):
    make_rejected(acme.account)
    make_rejected(globex.account)
    page = html(signed_in(acme.viewer).get(reverse("risk_rejected")))
    assert "Acme production" in page and "Globex" not in page and "The body is not JSON." in page


def test_empty_states(acme):
    viewer = signed_in(acme.viewer)
    assert "No pool is poisoned" in html(viewer.get(reverse("risk_pools")))
    assert "No interruption events yet" in html(viewer.get(reverse("risk_events")))
    assert "Nothing is waiting for review" in html(viewer.get(reverse("risk_held")))
    assert "Nothing was rejected" in html(viewer.get(reverse("risk_rejected")))


@pytest.mark.parametrize("name", LISTS)
def test_the_lists_make_as_many_queries_for_many_rows_as_for_few(make_user, make_account, name):
    admin = signed_in(make_user(Role.ADMIN))
    make_row = {
        "risk_pools": lambda account, n: make_pool(n),
        "risk_events": make_event,
        "risk_held": make_held,
        "risk_rejected": make_rejected,
    }[name]

    def queries(count, start):
        for n in range(start, start + count):
            make_row(make_account(make_user(Role.CLIENT), environment_type=EnvironmentType.PROD), n)
        admin.get(reverse(name))
        with CaptureQueriesContext(connection) as captured:
            html(admin.get(reverse(name)))
        return len(captured)

    assert queries(2, 0) == queries(20, 2)


# --- An account's event channel -----------------------------------------------------------------------


def test_the_channel_page_shows_the_queues_and_the_webhook_settings(acme):
    EventChannel.objects.create(
        account=acme.account, listener_state="listening", queues={"us-east-1": "https://sqs/q"}, last_message_at=None
    )
    page = html(signed_in(acme.viewer).get(reverse("risk_account_channel", args=[acme.account.pk])))
    assert "Listening" in page and "spotopt-interruption-events" in page and "/api/v1/risk/events/ingest/" in page
    assert "X-SpotOpt-Event-Secret" in page and "No webhook secret yet" in page
    assert reverse("risk_webhook_secret", args=[acme.account.pk]) not in page  # read-only: no button
    detail = html(signed_in(acme.viewer).get(reverse("account_detail", args=[acme.account.pk])))
    assert reverse("risk_account_channel", args=[acme.account.pk]) in detail


def test_a_secret_is_made_on_the_page_shown_once_and_never_again(acme):
    client = signed_in(acme.client)
    response = client.post(reverse("risk_webhook_secret", args=[acme.account.pk]))
    page = html(response)
    secret = re.search(r'id="webhook-secret">(spe_[^<]+)<', page).group(1)
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    again = html(client.get(reverse("risk_account_channel", args=[acme.account.pk])))
    assert secret not in again and "A secret was made" in again and "Rotate the secret" in again


def test_the_channel_page_and_the_secret_are_the_tenants(acme, globex):
    url = reverse("risk_account_channel", args=[acme.account.pk])
    assert signed_in(globex.client).get(url).status_code == 404
    assert signed_in(globex.client).post(reverse("risk_webhook_secret", args=[acme.account.pk])).status_code == 404
    assert signed_in(acme.viewer).post(reverse("risk_webhook_secret", args=[acme.account.pk])).status_code == 403
    assert not EventChannel.objects.exists()


def test_a_region_without_a_queue_is_said_only_once_the_listener_looked(acme):
    url = reverse("risk_account_channel", args=[acme.account.pk])
    EventChannel.objects.create(account=acme.account)  # a webhook secret made it; not polled yet
    page = html(signed_in(acme.viewer).get(url))
    assert "No queue found" not in page and "Not polled yet" in page
    EventChannel.objects.filter(account=acme.account).update(listener_state="no_queue")
    page = html(signed_in(acme.viewer).get(url))
    assert "No queue found" in page and "Create the queue and rules in" in page


def test_the_filter_bars_any_option_is_no_filter(acme):
    """What a browser submits for "Any event" and "Any channel": empty values, which filter nothing."""
    make_event(acme.account, 0, instance_id="i-0aaaaaaaaaaaaaaa1")
    make_event(acme.account, 1, instance_id="i-0aaaaaaaaaaaaaaa2")
    page = html(signed_in(acme.viewer).get(reverse("risk_events") + "?event_type=&outcome=counted&channel=&account="))
    assert "Some filters were ignored" not in page
    assert "i-0aaaaaaaaaaaaaaa2" in page and "i-0aaaaaaaaaaaaaaa1" not in page
