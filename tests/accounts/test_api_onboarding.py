"""The onboarding API (/api/v1/onboarding/…) end to end against moto: the CloudFormation role flow, the
access-keys flow, conflicts, AWS refusals and outages, the template download and the throttle.

Who may call which endpoint is the table in test_api_accounts.py.
"""

import json
import re
import uuid

import pytest
import yaml
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts import cloudformation
from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType
from accounts.models import Account
from tests.aws_fixtures import (
    ALLOW_ASSUME_ROLE,
    CUSTOMER_ACCOUNT,
    KEYS_ACCOUNT,
    PLATFORM_ARN,
    ROLE_ARN,
    ROLE_NAME,
    aws_mock,  # noqa: F401
    create_role,
    create_user_with_keys,
    fixed_platform,  # noqa: F401
    launch_instances,
    moto,  # noqa: F401
    new_access_key,
    set_role_trust,
    use_platform_identity,
    with_iam_auth,
)

# A fixed platform principal (so the template and messages never ask STS) and fresh throttle counters.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fixed_platform")]

ACCOUNTS = "/api/v1/accounts/"
ONBOARDING = "/api/v1/onboarding/"
CREATE = ONBOARDING + "create/"
CONNECT_KEYS = ONBOARDING + "connect/credentials/"


@pytest.fixture
def api(client_user) -> APIClient:
    api = APIClient()
    api.force_authenticate(client_user)
    return api


def rows():
    """Every account row, for 'nothing changed' checks."""
    return list(Account.objects.order_by("pk").values())


def verify_url(pk) -> str:
    return f"{ONBOARDING}{pk}/verify/"


def discovery_url(pk) -> str:
    return f"{ONBOARDING}{pk}/discovery/"


def template_url(pk, output="json") -> str:
    return f"{ONBOARDING}{pk}/template/?output={output}"


def create_pending(api, **data) -> dict:
    response = api.post(CREATE, {"account_name": "Production", **data}, format="json")
    assert response.status_code == 201, response.content
    return response.data


# --- the CloudFormation role flow ----------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_mock")
def test_role_flow_create_template_verify_discover(api, client_user, django_capture_on_commit_callbacks):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)

    # 1. A pending account with a server-generated External ID and the links to the template.
    created = create_pending(api, account_name="Production", environment_type="PROD", regions=["us-east-1"])
    account = created["account"]
    pk, external_id = account["id"], created["external_id"]
    assert re.fullmatch(r"spot-optimizer-[0-9a-f-]{36}", external_id)
    assert account["external_id"] == external_id
    assert (account["status"], account["aws_account_id"], account["owner"]) == (
        AccountStatus.PENDING,
        None,
        client_user.username,
    )
    assert created["platform_principal_arn"] == PLATFORM_ARN
    assert created["template_json_url"] == f"http://testserver{template_url(pk, 'json')}"
    assert created["template_yaml_url"] == f"http://testserver{template_url(pk, 'yaml')}"
    assert created["role_arn_example"] == f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
    assert created["quick_create_url"] is None  # no published template URL in the settings

    # 2. The template, with this account's External ID as the parameter default; YAML is the same data.
    as_json = api.get(created["template_json_url"])
    assert as_json.status_code == 200
    assert as_json["Content-Type"].startswith("application/json")
    template = json.loads(as_json.content)
    assert template["Parameters"]["ExternalId"]["Default"] == external_id
    assert template["Parameters"]["PlatformPrincipalArn"]["Default"] == PLATFORM_ARN
    as_yaml = api.get(created["template_yaml_url"])
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/x-yaml")
    assert yaml.safe_load(as_yaml.content) == template
    assert api.get(template_url(pk).split("?")[0]).content == as_json.content  # json is the default

    # Nothing discovered yet.
    progress = api.get(discovery_url(pk)).data
    assert (progress["status"], progress["is_final"], progress["discovery"]["state"]) == (
        AccountStatus.PENDING,
        False,
        "not_started",
    )

    # 3. The Role ARN from the stack's outputs: the role is assumed, the account connected; discovery runs
    # (django-q sync) once the request's transaction commits.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        verified = api.post(verify_url(pk), {"role_arn": f" {ROLE_ARN} "}, format="json")
    assert verified.status_code == 200, verified.content
    assert len(callbacks) == 1
    assert (verified.data["id"], verified.data["status"], verified.data["aws_account_id"]) == (
        pk,
        AccountStatus.CONNECTED,
        CUSTOMER_ACCOUNT,
    )
    assert verified.data["role_arn"] == ROLE_ARN
    assert verified.data["external_id"] == external_id

    # 4. What the onboarding page polls.
    progress = api.get(discovery_url(pk)).data
    assert progress["status"] == AccountStatus.ACTIVE
    assert progress["is_final"] is True
    discovery = progress["discovery"]
    assert discovery["state"] == "succeeded"
    assert discovery["regions_done"] == discovery["regions_total"] == 1
    assert discovery["percent"] == 100
    assert discovery["instances_found"] == 2
    assert discovery["regions"] == {"us-east-1": 2}
    assert progress["last_error"] is None

    # The list says the same; one row for the customer.
    (row,) = api.get(ACCOUNTS).data["results"]
    assert (row["id"], row["status"], row["aws_account_id"]) == (pk, AccountStatus.ACTIVE, CUSTOMER_ACCOUNT)

    # A second verify of an active account is refused and changes nothing.
    before = rows()
    again = api.post(verify_url(pk), {"role_arn": ROLE_ARN}, format="json")
    assert again.status_code == 400
    assert "already active" in again.data["detail"]
    assert rows() == before

    # Discover again on demand: 202 with the progress.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rediscover = api.post(discovery_url(pk))
    assert rediscover.status_code == 202
    assert rediscover.data["id"] == pk
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "payload,field",
    [
        ({}, "account_name"),
        ({"account_name": "   "}, "account_name"),
        ({"account_name": "P", "region": "mars-north-1"}, "region"),
        ({"account_name": "P", "regions": ["us-east-1", "moon-1"]}, "regions"),
        ({"account_name": "P", "environment_type": "STAGING"}, "environment_type"),
    ],
)
def test_create_refuses_bad_input_with_a_field_error(api, payload, field):
    response = api.post(CREATE, payload, format="json")
    assert response.status_code == 400
    assert field in response.data["errors"]
    assert not Account.objects.exists()


def test_create_keeps_the_chosen_environment_and_regions(api):
    created = create_pending(
        api, account_name="Lab", environment_type="LAB", region="eu-west-1", regions=["eu-west-1", "us-east-1"]
    )
    account = created["account"]
    assert (account["environment_type"], account["region"], account["regions"]) == (
        EnvironmentType.LAB,
        "eu-west-1",
        ["eu-west-1", "us-east-1"],
    )


@pytest.mark.parametrize(
    "role_arn",
    [
        f"arn:aws:iam::{CUSTOMER_ACCOUNT}:user/Bob",
        "arn:aws:iam::12345:role/Short",
        f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/{ROLE_NAME}/s",
        "not an arn",
    ],
)
def test_a_malformed_role_arn_is_a_400_without_calling_aws(api, settings, role_arn):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # an AWS call would end in 503 instead
    settings.AWS_MAX_ATTEMPTS = 1
    pk = create_pending(api)["account"]["id"]
    before = rows()

    response = api.post(verify_url(pk), {"role_arn": role_arn}, format="json")

    assert response.status_code == 400
    assert response.data["code"] == "invalid_role_arn"
    assert f"arn:aws:iam::123456789012:role/{ROLE_NAME}" in response.data["detail"]
    assert rows() == before


def test_verify_without_a_role_arn_is_a_field_error(api):
    pk = create_pending(api)["account"]["id"]
    response = api.post(verify_url(pk), {}, format="json")
    assert response.status_code == 400
    assert "role_arn" in response.data["errors"]


def _platform_in_customer_account(monkeypatch, settings) -> str:
    """The platform signs as an IAM user allowed to sts:AssumeRole, in the customer's account (moto checks
    trust policies only for same-account AssumeRole; see tests/aws_fixtures.py)."""
    platform_arn, key_id, secret = create_user_with_keys(CUSTOMER_ACCOUNT, "spotopt-platform", policy=ALLOW_ASSUME_ROLE)
    use_platform_identity(monkeypatch, key_id, secret)
    settings.PLATFORM_AWS_PRINCIPAL_ARN = platform_arn
    return platform_arn


@pytest.mark.usefixtures("aws_mock")
def test_a_role_that_expects_another_external_id_is_refused_and_the_account_stays_pending(api, monkeypatch, settings):
    created = create_pending(api)
    pk, external_id = created["account"]["id"], created["external_id"]
    platform_arn = _platform_in_customer_account(monkeypatch, settings)
    # The customer's stack was created from somebody else's template: its trust policy wants another External ID.
    role_arn = create_role(
        CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=platform_arn, external_id=f"spot-optimizer-{uuid.uuid4()}"
    )

    response = with_iam_auth(api.post, verify_url(pk), {"role_arn": role_arn}, format="json")

    assert response.status_code == 400
    assert response.data["code"] == "role_not_assumable"
    message = response.data["detail"]
    assert "AWS refused to let spotopt assume this role" in message
    assert external_id in message and platform_arn in message  # what the trust policy must say
    progress = api.get(discovery_url(pk)).data
    assert progress["status"] == AccountStatus.PENDING
    assert progress["is_final"] is False
    assert progress["last_error"] == {"message": message, "code": "role_not_assumable", "role_arn": role_arn}
    account = Account.objects.get(pk=pk)
    assert account.account_id.startswith("pending-") and account.role_arn == ""
    assert api.get(f"{ACCOUNTS}{pk}/").data["last_error"]["code"] == "role_not_assumable"

    # Once the trust policy uses this account's External ID, the same request connects it.
    set_role_trust(CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=platform_arn, external_id=external_id)
    response = with_iam_auth(api.post, verify_url(pk), {"role_arn": role_arn}, format="json")

    assert response.status_code == 200, response.content
    assert (response.data["status"], response.data["aws_account_id"], response.data["last_error"]) == (
        AccountStatus.CONNECTED,
        CUSTOMER_ACCOUNT,
        None,
    )


def test_verify_when_aws_is_unreachable_is_a_503_and_the_account_stays_pending(api, settings):
    pk = create_pending(api)["account"]["id"]
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1

    response = api.post(verify_url(pk), {"role_arn": ROLE_ARN}, format="json")

    assert response.status_code == 503
    assert response.data["code"] == "aws_unreachable"
    assert "AWS could not be reached" in response.data["detail"]
    progress = api.get(discovery_url(pk)).data
    assert progress["status"] == AccountStatus.PENDING
    assert progress["last_error"]["code"] == "aws_unreachable"


@pytest.mark.usefixtures("aws_mock")
def test_verifying_another_users_aws_account_is_a_409_and_changes_nothing(api, other_client, make_account):
    make_account(other_client, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN)
    pk = create_pending(api)["account"]["id"]
    before = rows()

    response = api.post(verify_url(pk), {"role_arn": ROLE_ARN}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"AWS account {CUSTOMER_ACCOUNT} is already connected to spotopt by another team. Ask them "
        "(or an administrator) to remove it first.",
        "code": "account_owned_elsewhere",
    }
    assert rows() == before


def test_discovery_of_a_pending_account_cannot_be_started(api):
    pk = create_pending(api)["account"]["id"]
    response = api.post(discovery_url(pk))
    assert response.status_code == 400
    assert response.data["detail"] == "Discovery needs a connected account; this one is pending."


# --- the template download ---------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_the_template_is_an_attachment_named_after_the_external_id(api, output):
    created = create_pending(api)
    response = api.get(template_url(created["account"]["id"], output))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="spotopt-{created["external_id"]}.{output}"'


def test_the_template_in_an_unknown_format_is_a_400(api):
    response = api.get(template_url(create_pending(api)["account"]["id"], "xml"))
    assert response.status_code == 400
    assert "?output=json or ?output=yaml" in response.json()["detail"]


def test_an_access_keys_account_has_no_template(api, client_user, make_account):
    account = make_account(client_user, connection_method=ConnectionMethod.ACCESS_KEYS, role_arn="", external_id=None)
    response = api.get(template_url(account.pk))
    assert response.status_code == 400
    assert "role-connected accounts" in response.json()["detail"]


def test_the_template_matches_the_generator(api, client_user):
    pk = create_pending(api)["account"]["id"]
    account = Account.objects.get(pk=pk)
    assert json.loads(api.get(template_url(pk)).content) == cloudformation.template_for_account(account=account)


# --- the access-keys flow ----------------------------------------------------------------------------------


@pytest.fixture
def iam_keys(aws_mock) -> tuple[str, str]:  # noqa: F811
    """An IAM user with an access key in KEYS_ACCOUNT (inside moto): (access key id, secret)."""
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "spotopt-reader")
    return key_id, secret


def keys_payload(keys, **extra) -> dict:
    key_id, secret = keys
    return {"access_key_id": key_id, "secret_access_key": secret, **extra}


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_keys_flow_connects_then_reconnecting_updates_and_no_secret_is_ever_shown(
    api, client, client_user, iam_keys, django_capture_on_commit_callbacks
):
    key_id, secret = iam_keys
    launch_instances(KEYS_ACCOUNT, "us-east-1", 1)

    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(
            CONNECT_KEYS, keys_payload(iam_keys, account_name="Keys", environment_type="LAB"), format="json"
        )

    assert first.status_code == 201, first.content
    assert_no_secrets(first.content.decode(), key_id, secret)
    assert (first.data["aws_account_id"], first.data["connection_method"], first.data["status"]) == (
        KEYS_ACCOUNT,
        ConnectionMethod.ACCESS_KEYS,
        AccountStatus.CONNECTED,
    )
    assert (first.data["account_name"], first.data["environment_type"], first.data["has_access_keys"]) == (
        "Keys",
        EnvironmentType.LAB,
        True,
    )
    assert first.data["role_arn"] == "" and first.data["external_id"] is None
    pk = first.data["id"]
    progress = api.get(discovery_url(pk)).data
    assert (progress["status"], progress["discovery"]["state"], progress["discovery"]["instances_found"]) == (
        AccountStatus.ACTIVE,
        "succeeded",
        1,
    )

    # Same user, same AWS account, rotated keys: the row is updated (200), not duplicated.
    rotated_id, rotated_secret = new_access_key(KEYS_ACCOUNT, "spotopt-reader")
    again = api.post(
        CONNECT_KEYS, keys_payload((rotated_id, rotated_secret), account_name="Keys (rotated)"), format="json"
    )

    assert again.status_code == 200, again.content
    assert again.data["id"] == pk
    assert again.data["account_name"] == "Keys (rotated)"
    assert Account.objects.count() == 1
    assert Account.objects.get(pk=pk).get_access_keys() == (rotated_id, rotated_secret)

    secrets = (key_id, secret, rotated_id, rotated_secret)
    assert_no_secrets(again.content.decode(), *secrets)
    assert_no_secrets(api.get(ACCOUNTS).content.decode(), *secrets)
    assert_no_secrets(api.get(f"{ACCOUNTS}{pk}/").content.decode(), *secrets)
    assert_no_secrets(api.get(discovery_url(pk)).content.decode(), *secrets)
    # Nor the browsable API (session sign-in), neither the pages nor the answer to a POST.
    client.force_login(client_user)
    for url in (ACCOUNTS, f"{ACCOUNTS}{pk}/", discovery_url(pk)):
        page = client.get(url, HTTP_ACCEPT="text/html")
        assert page.status_code == 200
        assert page["Content-Type"].startswith("text/html")
        assert_no_secrets(page.content.decode(), *secrets)
    posted = client.post(
        CONNECT_KEYS,
        keys_payload((rotated_id, rotated_secret)),
        content_type="application/json",
        HTTP_ACCEPT="text/html",
    )
    assert posted.status_code == 200
    assert_no_secrets(posted.content.decode(), *secrets)


def test_keys_never_take_over_a_pending_placeholder(api, iam_keys):
    placeholder = create_pending(api, account_name="Production")["account"]["id"]

    response = api.post(CONNECT_KEYS, keys_payload(iam_keys), format="json")

    assert response.status_code == 201  # a new account: the pending one keeps its External ID
    assert response.data["id"] != placeholder
    assert response.data["aws_account_id"] == KEYS_ACCOUNT
    pending = Account.objects.get(pk=placeholder)
    assert (pending.status, pending.connection_method) == (AccountStatus.PENDING, ConnectionMethod.IAM_ROLE)
    assert pending.external_id


def test_a_pending_placeholder_switches_to_keys_only_when_asked(api, iam_keys):
    placeholder = create_pending(api, account_name="Production")["account"]["id"]

    response = api.post(f"/api/v1/onboarding/{placeholder}/credentials/", keys_payload(iam_keys), format="json")

    assert response.status_code == 200
    assert response.data["id"] == placeholder
    assert (response.data["account_name"], response.data["aws_account_id"]) == ("Production", KEYS_ACCOUNT)
    assert (response.data["connection_method"], response.data["external_id"]) == ("access_keys", None)
    assert Account.objects.count() == 1


def test_keys_of_another_users_aws_account_are_a_409_and_nothing_changes(iam_keys, other_client, client_user):
    theirs = APIClient()
    theirs.force_authenticate(other_client)
    assert theirs.post(CONNECT_KEYS, keys_payload(iam_keys, account_name="Theirs"), format="json").status_code == 201
    mine = APIClient()
    mine.force_authenticate(client_user)
    create_pending(mine, account_name="Mine")
    before = rows()

    response = mine.post(CONNECT_KEYS, keys_payload(iam_keys, account_name="Mine"), format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"AWS account {KEYS_ACCOUNT} is already connected to spotopt by another team. Ask them "
        "(or an administrator) to remove it first.",
        "code": "account_owned_elsewhere",
    }
    assert rows() == before
    assert_no_secrets(response.content.decode(), *iam_keys)


@pytest.mark.usefixtures("aws_mock")
def test_keys_aws_does_not_accept_are_a_400(api):
    key_id, secret = "AKIA" + "Z" * 16, "s3cr3t/" + "Q" * 33

    response = with_iam_auth(api.post, CONNECT_KEYS, keys_payload((key_id, secret)), format="json")

    assert response.status_code == 400
    assert response.data["code"] == "aws_invalid_credentials"
    assert "InvalidClientTokenId" in response.data["detail"]
    assert_no_secrets(response.content.decode(), key_id, secret)
    assert not Account.objects.exists()


def test_a_wrong_secret_is_a_400(api, iam_keys):
    key_id, _ = iam_keys
    response = with_iam_auth(
        api.post, CONNECT_KEYS, keys_payload((key_id, "not-the-secret-" + "x" * 25)), format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == "aws_invalid_credentials"
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "payload,field_or_code",
    [
        ({"secret_access_key": "x" * 40}, "access_key_id"),
        ({"access_key_id": "AKIAIOSFODNN7EXAMPLE"}, "secret_access_key"),
        ({"access_key_id": "AKIA123", "secret_access_key": "x" * 40}, "invalid_keys"),
        ({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "short"}, "invalid_keys"),
        (
            {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "x" * 40, "regions": ["narnia-1"]},
            "regions",
        ),
    ],
)
def test_malformed_keys_are_a_400_without_calling_aws(api, settings, payload, field_or_code):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    response = api.post(CONNECT_KEYS, payload, format="json")
    assert response.status_code == 400
    assert field_or_code in response.data.get("errors", {}) or response.data["code"] == field_or_code
    assert "x" * 40 not in response.content.decode()
    assert not Account.objects.exists()


def test_connecting_keys_when_aws_is_unreachable_is_a_503(api, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    response = api.post(CONNECT_KEYS, keys_payload(("AKIAIOSFODNN7EXAMPLE", secret)), format="json")

    assert response.status_code == 503
    assert response.data["code"] == "aws_unreachable"
    assert "AWS could not be reached" in response.data["detail"]
    assert_no_secrets(response.content.decode(), "AKIAIOSFODNN7EXAMPLE", secret)
    assert not Account.objects.exists()


# --- the throttle -------------------------------------------------------------------------------------------


def test_onboarding_posts_are_rate_limited_per_user(api, other_client, monkeypatch):
    # DRF reads the rates once, when the throttle class is defined: patch the class, not the settings.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"onboarding": "2/minute"})
    cache.clear()

    assert api.post(CREATE, {"account_name": "One"}, format="json").status_code == 201
    pk = Account.objects.get().pk
    assert api.post(CREATE, {"account_name": "Two"}, format="json").status_code == 201
    third = api.post(CREATE, {"account_name": "Three"}, format="json")

    assert third.status_code == 429
    assert "throttled" in third.data["detail"]
    assert int(third["Retry-After"]) > 0
    assert Account.objects.count() == 2
    # Every onboarding POST counts; reads do not.
    assert api.post(verify_url(pk), {"role_arn": ROLE_ARN}, format="json").status_code == 429
    assert api.get(discovery_url(pk)).status_code == 200
    assert api.get(template_url(pk)).status_code == 200
    # Another user has their own allowance.
    theirs = APIClient()
    theirs.force_authenticate(other_client)
    assert theirs.post(CREATE, {"account_name": "Theirs"}, format="json").status_code == 201
