"""The risk API: /api/v1/risk/{events,held,rejected}/ under the API contract (tenant data), the pools
(global knowledge, lifted by super_admins only), the event channels and their webhook secrets, and the
webhook itself with AWS's documented samples byte for byte."""

import json

import pytest
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

from accounts.choices import Role
from risk.api import HIVE_REFUSAL, WEBHOOK_SECRET_HEADER
from risk.choices import EventOutcome, HeldEventStatus, IngestChannel, RejectReason
from risk.models import EventChannel, GlobalRiskEvent, HeldRiskEvent, RejectedIngest, SpotPoolRisk
from risk.services import event_webhook_secret_rotate
from tests.api_contract import ApiContract, Call, Endpoint, api_as, assert_error, environment_of, query_count
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT, moto  # noqa: F401
from tests.risk.conftest import INTERRUPTION, REBALANCE
from tests.risk.factories import make_event, make_held, make_pool, make_rejected

pytestmark = pytest.mark.django_db

INGEST = "/api/v1/risk/events/ingest/"
POOLS = "/api/v1/risk/pools/"
CHANNELS = "/api/v1/risk/channels/"
SUPER = frozenset({Role.SUPER_ADMIN})
ANYONE = frozenset(Role)
RELEASED, DISMISSED = {"status": "released"}, {"status": "dismissed"}


def _account_secrets(row):
    return [row.account.account_name, row.account.account_id]


class TestEventsContract(ApiContract):
    endpoint = Endpoint(
        list_url="/api/v1/risk/events/",
        make=lambda tenant, n: make_event(tenant.account_in(environment_of(n)), n),
        models=(GlobalRiskEvent,),
        secrets=lambda event: [*_account_secrets(event), event.instance_id, event.event_id],
        not_allowed=(
            Call("create", "post", "", {"event_id": "x"}, roles=ANYONE),
            Call("destroy", "delete", "{pk}/", roles=ANYONE),
        ),
        list_queries=(
            "",
            "?outcome=poisoned&channel=sqs",
            "?event_type=termination_notice&pool_id=us-east-1:us-east-1a:m5.large",
        ),
    )


class TestHeldContract(ApiContract):
    endpoint = Endpoint(
        list_url="/api/v1/risk/held/",
        make=lambda tenant, n: make_held(tenant.account_in(environment_of(n)), n),
        models=(HeldRiskEvent, SpotPoolRisk),
        secrets=lambda held: [*_account_secrets(held), held.event.instance_id, held.event.event_id],
        writers=SUPER,
        write_refusal=HIVE_REFUSAL,
        writes=(
            Call("release", "post", "{pk}/release/", {"note": "Genuine."}, ok=200, answer=RELEASED, outsider=403),
            Call("dismiss", "post", "{pk}/dismiss/", {"note": "Noise."}, ok=200, answer=DISMISSED, outsider=403),
        ),
        not_allowed=(Call("destroy", "delete", "{pk}/", roles=SUPER),),
        list_queries=("", "?status=held"),
    )


class TestRejectedContract(ApiContract):
    endpoint = Endpoint(
        list_url="/api/v1/risk/rejected/",
        make=lambda tenant, n: make_rejected(tenant.account_in(environment_of(n)), n),
        models=(RejectedIngest,),
        secrets=_account_secrets,
        not_allowed=(Call("destroy", "delete", "{pk}/", roles=ANYONE),),
        list_queries=("", "?reason=malformed&channel=webhook"),
    )


# --- Pools: global knowledge --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER, Role.LAB, Role.ADMIN, Role.SUPER_ADMIN])
def test_every_signed_in_role_reads_the_pools_and_none_names_a_tenant(make_user, make_account, role):
    victim = make_user(Role.CLIENT)
    pool = make_pool(triggering_customer_id=victim.team_id)
    response = api_as(make_user(role)).get(POOLS)
    assert response.status_code == 200
    [row] = response.data["results"]
    assert row["pool_id"] == pool.pool_id and row["poisoned"] is True and row["interruption_count"] == 1
    assert str(victim.team_id) not in response.content.decode() and "triggering" not in response.content.decode()
    assert api_as(make_user(role)).get(f"{POOLS}{pool.pk}/").status_code == 200


def test_pools_need_a_signed_in_user(db):
    assert_error(api_as().get(POOLS), 401, "not_authenticated")


def test_pool_filters_and_expired_poisons(db, make_user):
    live = make_pool(0)
    expired = make_pool(1, poison_expires_at=make_pool(2).poisoned_at)  # flag still set, 15 days over
    quiet = make_pool(3, poisoned=False)
    api = api_as(make_user(Role.USER))
    ids = lambda query: {row["id"] for row in api.get(POOLS + query).data["results"]}  # noqa: E731
    assert str(live.pk) in ids("?poisoned=true") and str(expired.pk) not in ids("?poisoned=true")
    assert {str(expired.pk), str(quiet.pk)} <= ids("?poisoned=false")
    assert ids(f"?instance_type={quiet.instance_type}") == {str(quiet.pk)}


def test_pool_list_queries_stay_constant(db, make_user):
    api = api_as(make_user(Role.CLIENT))
    make_pool(0)
    few, _ = query_count(api, POOLS)
    for n in range(1, 30):
        make_pool(n)
    many, response = query_count(api, POOLS)
    assert many == few and len(response.data["results"]) == 30


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER, Role.LAB, Role.ADMIN])
def test_only_a_super_admin_lifts_a_poison(make_user, role):
    pool = make_pool()
    response = api_as(make_user(role)).post(f"{POOLS}{pool.pk}/lift/", {"reason": "AWS fixed it"}, format="json")
    assert assert_error(response, 403, "permission_denied")["detail"] == HIVE_REFUSAL
    pool.refresh_from_db()
    assert pool.is_poisoned


def test_a_super_admin_lifts_a_poison_with_a_reason_that_is_kept(make_user):
    pool = make_pool()
    boss = make_user(Role.SUPER_ADMIN)
    api = api_as(boss)
    assert_error(api.post(f"{POOLS}{pool.pk}/lift/", {"reason": ""}, format="json"), 400)
    response = api.post(f"{POOLS}{pool.pk}/lift/", {"reason": "Capacity restored (AWS case 123)"}, format="json")
    assert response.status_code == 200, response.content
    assert response.data["poisoned"] is False
    assert response.data["lifts"][0]["reason"] == "Capacity restored (AWS case 123)"
    assert response.data["lifts"][0]["by"] == boss.username
    assert_error(api.post(f"{POOLS}{pool.pk}/lift/", {"reason": "again"}, format="json"), 409)


# --- Event channels and webhook secrets ---------------------------------------------------------------


def test_a_secret_is_shown_once_stored_hashed_and_rotated(make_team):
    acme = make_team("Acme")
    response = api_as(acme.client).post(f"{CHANNELS}{acme.account.pk}/rotate-secret/")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret = response.data["secret"]
    assert secret.startswith("spe_") and response.data["header"] == WEBHOOK_SECRET_HEADER
    channel = EventChannel.objects.get(account=acme.account)
    assert secret not in json.dumps(list(EventChannel.objects.values()), default=str)
    listed = api_as(acme.viewer).get(CHANNELS)
    assert listed.status_code == 200 and listed.data[0]["webhook_secret_set"] is True
    assert secret not in listed.content.decode() and channel.webhook_secret_hash not in listed.content.decode()

    again = api_as(acme.colleague).post(f"{CHANNELS}{acme.account.pk}/rotate-secret/").data["secret"]
    assert again != secret
    assert (
        api_as()
        .post(INGEST, INTERRUPTION, content_type="application/json", **{"HTTP_X_SPOTOPT_EVENT_SECRET": secret})
        .status_code
        == 401
    )


def test_a_read_only_user_and_an_outsider_cannot_make_a_secret(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    url = f"{CHANNELS}{acme.account.pk}/rotate-secret/"
    assert_error(api_as(acme.viewer).post(url), 403, "permission_denied")
    outsider = api_as(globex.client).post(url)
    assert_error(outsider, 404)
    assert acme.account.account_name not in outsider.content.decode()
    assert not EventChannel.objects.exists()
    assert_error(api_as().post(url), 401)
    assert api_as(globex.client).get(f"{CHANNELS}{acme.account.pk}/").status_code == 404


# --- The webhook --------------------------------------------------------------------------------------


@pytest.fixture
def secret(sample_account):
    return event_webhook_secret_rotate(account=sample_account, user=sample_account.user)


def post_event(body, secret=None, **extra):
    headers = {"HTTP_X_SPOTOPT_EVENT_SECRET": secret} if secret else {}
    return api_as(enforce_csrf_checks=True).post(INGEST, body, content_type="application/json", **headers, **extra)


def test_the_samples_through_the_webhook_are_stored_once(sample_instance, secret, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = post_event(INTERRUPTION, secret)
    assert first.status_code == 200, first.content
    assert (first.data["stored"], first.data["results"][0]["outcome"]) == (1, EventOutcome.POISONED)
    assert post_event(INTERRUPTION, secret).data["duplicate"] == 1  # EventBridge redelivers
    event = GlobalRiskEvent.objects.get()
    assert event.channel == IngestChannel.WEBHOOK and event.raw_event == json.loads(INTERRUPTION)
    assert SpotPoolRisk.objects.get(instance_type="c5.xlarge").is_poisoned


def test_a_batch_mixes_accepted_and_rejected_events(sample_instance, secret):
    bad = json.loads(REBALANCE) | {"id": "another-id", "account": "999999999999"}
    response = post_event(json.dumps([json.loads(INTERRUPTION), bad]), secret)
    assert response.status_code == 200
    assert (response.data["stored"], response.data["rejected"]) == (1, 1)
    assert response.data["results"][1]["reason"] == RejectReason.WRONG_ACCOUNT


def test_a_wrong_account_call_is_rejected_and_the_next_good_one_processed(sample_instance, secret):
    wrong = json.loads(INTERRUPTION) | {"account": "999999999999"}
    response = post_event(json.dumps(wrong), secret)
    body = assert_error(response, 400, RejectReason.WRONG_ACCOUNT)
    assert body["errors"]["0"][0].startswith("wrong_account: The event names AWS account 999999999999")
    rejected = RejectedIngest.objects.get()
    assert rejected.channel == IngestChannel.WEBHOOK and rejected.account == sample_instance.account
    assert post_event(INTERRUPTION, secret).status_code == 200
    assert GlobalRiskEvent.objects.count() == 1


def test_a_malformed_body_is_a_400_with_the_reason_kept(sample_account, secret):
    response = post_event(b"{not json", secret)
    assert assert_error(response, 400, RejectReason.MALFORMED)["detail"].startswith("No event was accepted")
    assert RejectedIngest.objects.get().raw_body == "{not json"


@pytest.mark.parametrize("header", [None, "spe_wrong", "Bearer x", "x" * 500])
def test_the_webhook_wants_the_accounts_secret(sample_account, secret, header):
    response = post_event(INTERRUPTION, header)
    assert_error(response, 401, "not_authenticated")
    assert not GlobalRiskEvent.objects.exists() and not RejectedIngest.objects.exists()


def test_an_inactive_accounts_secret_stops_working(sample_account, secret):
    sample_account.is_active = False
    sample_account.save()
    assert_error(post_event(INTERRUPTION, secret), 401)


def test_the_webhook_is_throttled(sample_account, secret, monkeypatch):
    # DRF reads the rates once, when the throttle class is defined: patch the class, not the settings.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"risk_ingest": "3/minute"})
    cache.clear()
    answers = [post_event(b"{}", secret).status_code for _ in range(4)]
    cache.clear()
    assert answers == [400, 400, 400, 429]


def test_held_events_say_so(sample_instance, secret, settings):
    settings.RISK_TENANT_POISONS_PER_HOUR = 0
    response = post_event(INTERRUPTION, secret)
    assert response.data["results"][0]["outcome"] == EventOutcome.HELD
    assert HeldRiskEvent.objects.get().status == HeldEventStatus.HELD


def test_the_channel_list_makes_as_many_queries_for_many_accounts_as_for_one(make_team, make_account):
    acme = make_team("Acme")
    EventChannel.objects.create(account=acme.account)
    api = api_as(acme.client)
    query_count(api, CHANNELS)
    few, _ = query_count(api, CHANNELS)
    for _ in range(10):
        EventChannel.objects.create(account=make_account(acme.client))
    query_count(api, CHANNELS)  # the user's account ids are read again after accounts changed
    many, response = query_count(api, CHANNELS)
    assert many == few and len(response.data) == 11


def test_moments_are_read_in_utc_and_one_off_the_calendar_is_a_400(make_team):
    acme = make_team("Acme")
    event = make_event(acme.account)
    api = api_as(acme.client)
    # Year 200 at +23:00: PostgreSQL refuses the offset itself; read in UTC it is a plain (early) moment.
    assert api.get("/api/v1/risk/events/?received_before=0200-09-21T15:30:36%2B23:00").data["results"] == []
    after = api.get("/api/v1/risk/events/?received_after=2000-01-01T00:00:00%2B05:00").data["results"]
    assert [row["id"] for row in after] == [str(event.pk)]
    assert_error(api.get("/api/v1/risk/events/?received_after=0001-01-01T00:00:00%2B05:00"), 400)
