"""The accounts API (/api/v1/accounts/) and who may call which endpoint of accounts and onboarding.

The API contract (tests/api_contract.py: anonymous callers, outsiders, refused roles, pagination, queries,
JWT and CSRF) and the role table below cover every endpoint of both viewsets; the onboarding flows
themselves are in test_api_onboarding.py.
"""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
from accounts.models import Account
from approvals.models import ApprovalRequest
from fleet.models import Instance
from spotopt.tenancy import ROLE_REFUSAL
from tests import api_contract
from tests.api_contract import ApiContract, Call, Endpoint, api_as, environment_of, jwt_client, result_ids
from tests.aws_fixtures import (
    CUSTOMER_ACCOUNT,
    KEYS_ACCOUNT,
    ROLE_ARN,
    aws_mock,  # noqa: F401
    create_user_with_keys,
    failed_role_account,
    fixed_platform,  # noqa: F401
    moto,  # noqa: F401
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fixed_platform")]

ACCOUNTS = "/api/v1/accounts/"
ONBOARDING = "/api/v1/onboarding/"


def rows():
    """Every account row, for 'nothing changed' checks."""
    return list(Account.objects.order_by("pk").values())


# --- the API contract (tests/api_contract.py) ------------------------------------------------------------


def contract_account(tenant, n):
    """Row n of the contract checks: the team's accounts, LAB and production, connected by role or keys, by
    either client, some with an instance."""
    fields = {"environment_type": environment_of(n)}
    if n % 3 == 2:
        fields |= {"connection_method": ConnectionMethod.ACCESS_KEYS, "role_arn": "", "external_id": None}
    owner = [tenant.client, tenant.colleague][n // 2 % 2]
    account = tenant.fixture("make_account")(owner, account_name=f"Contract account {n:03}", **fields)
    if n % 4 == 1:
        tenant.fixture("make_instance")(account)
    return account


# Well-formed keys: refused before AWS is asked, so only who asks decides.
SOME_KEYS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "x" * 40}
MANAGERS = frozenset({Role.CLIENT, Role.ADMIN, Role.SUPER_ADMIN})
RENAME = {"account_name": "Renamed"}


class TestAccountsContract(ApiContract):
    endpoint = Endpoint(
        list_url=ACCOUNTS,
        make=contract_account,
        models=(Account,),
        secrets=lambda account: [account.account_name, account.account_id],
        writers=MANAGERS,
        write_refusal=ROLE_REFUSAL,
        writes=(
            Call("partial_update", "patch", "{pk}/", RENAME, ok=200, answer=RENAME),
            Call("destroy", "delete", "{pk}/", ok=204),
            Call("retry", "post", "{pk}/retry/"),
            Call("create", "post", ONBOARDING + "create/", {"account_name": "New"}, ok=201),
            Call("template", "get", ONBOARDING + "{pk}/template/?output=json"),
            Call("verify", "post", ONBOARDING + "{pk}/verify/", {"role_arn": ROLE_ARN}),
            Call("connect_credentials", "post", ONBOARDING + "connect/credentials/", SOME_KEYS),
            Call("credentials", "post", ONBOARDING + "{pk}/credentials/", SOME_KEYS),
            Call("discovery_get", "get", ONBOARDING + "{pk}/discovery/"),
            Call("discovery_post", "post", ONBOARDING + "{pk}/discovery/", ok=202),
        ),
        not_allowed=(
            Call("put", "put", "{pk}/", {"account_name": "X"}),
            Call("post_to_the_list", "post", "", {"account_name": "X"}),  # accounts are made by onboarding
        ),
    )


# --- who may do what: every endpoint of accounts and onboarding ------------------------------------------
# Anonymous callers and outsiders (another team's clients) are the contract's checks above.


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "{pk}" is the target account
    target_status: str = AccountStatus.ACTIVE
    data: dict | None = None
    needs_aws: bool = False


ENDPOINTS = {
    "list": Route("get", ACCOUNTS),
    "retrieve": Route("get", ACCOUNTS + "{pk}/"),
    "partial_update": Route("patch", ACCOUNTS + "{pk}/", data={"account_name": "Renamed"}),
    "destroy": Route("delete", ACCOUNTS + "{pk}/"),
    "retry": Route("post", ACCOUNTS + "{pk}/retry/", target_status=AccountStatus.FAILED, needs_aws=True),
    "create": Route("post", ONBOARDING + "create/", data={"account_name": "New"}),
    "template": Route("get", ONBOARDING + "{pk}/template/?output=json", target_status=AccountStatus.PENDING),
    "verify": Route(
        "post",
        ONBOARDING + "{pk}/verify/",
        target_status=AccountStatus.PENDING,
        data={"role_arn": ROLE_ARN},
        needs_aws=True,
    ),
    "connect_credentials": Route("post", ONBOARDING + "connect/credentials/", needs_aws=True),
    "discovery_get": Route("get", ONBOARDING + "{pk}/discovery/"),
    "discovery_post": Route("post", ONBOARDING + "{pk}/discovery/"),
}

# Actor -> (role of the person asking, who owns the target account, the target's environment).
ACTORS = {
    "owner": (Role.CLIENT, "self", EnvironmentType.PROD),
    "readonly_owner": (Role.USER, "self", EnvironmentType.PROD),
    "lab_on_lab": (Role.LAB, "client", EnvironmentType.LAB),
    "lab_on_prod": (Role.LAB, "client", EnvironmentType.PROD),
    "admin": (Role.ADMIN, "client", EnvironmentType.PROD),
    "super_admin": (Role.SUPER_ADMIN, "client", EnvironmentType.PROD),
}

# fmt: off
COLUMNS = ("list", "retrieve", "partial_update", "destroy", "retry", "create", "template", "verify",
           "connect_credentials", "discovery_get", "discovery_post")
EXPECTED = {
    #                 list retr  patch  del  retry create tmpl verify keys  d.get d.post
    "owner":          (200, 200, 200,  204,  200,  201,  200,  200,  201,  200,  202),
    "readonly_owner": (200, 200, 403,  403,  403,  403,  200,  403,  403,  200,  403),
    "lab_on_lab":     (200, 200, 403,  403,  403,  403,  200,  403,  403,  200,  403),
    "lab_on_prod":    (200, 404, 403,  403,  403,  403,  404,  403,  403,  404,  403),
    "admin":          (200, 200, 200,  204,  200,  201,  200,  200,  201,  200,  202),
    "super_admin":    (200, 200, 200,  204,  200,  201,  200,  200,  201,  200,  202),
}
# fmt: on
SEES_TARGET = {"owner", "readonly_owner", "lab_on_lab", "admin", "super_admin"}
CASES = [pytest.param(actor, endpoint, id=f"{actor}-{endpoint}") for actor in EXPECTED for endpoint in COLUMNS]


def _target(make_account, owner, endpoint: Route, environment: str) -> Account:
    fields = {"environment_type": environment, "status": endpoint.target_status}
    if endpoint.target_status == AccountStatus.PENDING:
        fields |= {
            "account_id": f"pending-{uuid.uuid4()}",
            "role_arn": "",
            "external_id": f"spot-optimizer-{uuid.uuid4()}",
        }
    if endpoint.target_status == AccountStatus.FAILED:
        fields |= {"account_id": CUSTOMER_ACCOUNT, "role_arn": ROLE_ARN}
    return make_account(owner, **fields)


@pytest.mark.parametrize("actor,endpoint_name", CASES)
def test_who_may_do_what_on_every_endpoint(request, make_user, make_account, actor, endpoint_name):
    endpoint = ENDPOINTS[endpoint_name]
    expected = EXPECTED[actor][COLUMNS.index(endpoint_name)]
    role, owned_by, environment = ACTORS[actor]
    person = make_user(role)
    owner = person if owned_by == "self" else make_user(Role.CLIENT)
    target = _target(make_account, owner, endpoint, environment)
    # Somebody else's account of the same environment: nobody but admins and (for LAB) lab users see it.
    bystander = make_account(make_user(Role.CLIENT), environment_type=environment)
    data = endpoint.data
    if endpoint.needs_aws and expected < 400:
        request.getfixturevalue("aws_mock")
        if endpoint_name == "connect_credentials":
            _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "reader")
            data = {"access_key_id": key_id, "secret_access_key": secret, "account_name": "Keys"}
    elif endpoint_name == "connect_credentials":
        data = SOME_KEYS

    with api_contract.changes_nothing([Account]) if expected >= 400 else nullcontext():
        response = getattr(api_as(person), endpoint.method)(endpoint.path.format(pk=target.pk), data, format="json")

    assert response.status_code == expected, response.content
    if expected >= 400:
        api_contract.assert_refused(response, expected, [str(target.pk), target.account_name])
    if endpoint_name == "list" and expected == 200:
        ids = result_ids(response)
        assert (str(target.pk) in ids) == (actor in SEES_TARGET)
        assert (str(bystander.pk) in ids) == (actor in {"admin", "super_admin", "lab_on_lab"})
    if endpoint_name == "retrieve" and expected == 200:
        assert response.data["id"] == str(target.pk)
        assert response.data["owner"] == owner.username
    if endpoint_name == "partial_update" and expected == 200:
        target.refresh_from_db()
        assert target.account_name == "Renamed"
        assert target.user == owner  # an admin manages it; it stays the customer's
    if endpoint_name == "destroy" and expected == 204:
        assert not Account.objects.filter(pk=target.pk).exists()
        assert Account.objects.filter(pk=bystander.pk).exists()
    if endpoint_name in ("retry", "verify") and expected == 200:
        target.refresh_from_db()
        assert (target.status, target.account_id, target.user) == (AccountStatus.CONNECTED, CUSTOMER_ACCOUNT, owner)
        assert response.data["status"] == AccountStatus.CONNECTED
    if endpoint_name in ("create", "connect_credentials") and expected == 201:
        created = Account.objects.get(
            pk=response.data["id"] if "id" in response.data else response.data["account"]["id"]
        )
        assert created.user == person  # what you connect is yours
    if endpoint_name == "discovery_post" and expected == 202:
        assert response.data["id"] == str(target.pk)


# --- list: what it shows, filters (scoping, pagination, queries: the contract) -------------------------------


def test_the_list_shows_what_an_integrator_needs_and_nothing_secret(client_user, make_account):
    account = make_account(client_user, account_name="Production", region="eu-west-1", regions=["eu-west-1"])

    (row,) = api_as(client_user).get(ACCOUNTS).data["results"]

    assert row["id"] == str(account.pk)
    assert row["aws_account_id"] == account.account_id
    assert (row["account_name"], row["environment_type"], row["connection_method"]) == (
        "Production",
        EnvironmentType.PROD,
        ConnectionMethod.IAM_ROLE,
    )
    assert (row["region"], row["regions"], row["status"], row["owner"]) == (
        "eu-west-1",
        ["eu-west-1"],
        AccountStatus.ACTIVE,
        client_user.username,
    )
    assert row["has_access_keys"] is False
    assert row["discovery"]["state"] == "not_started"
    assert row["last_error"] is None
    assert not {"access_key_id_encrypted", "secret_access_key_encrypted", "account_metadata"} & set(row)


def test_a_pending_account_has_no_aws_account_id_yet(client_user, make_account):
    make_account(client_user, account_id=f"pending-{uuid.uuid4()}", status=AccountStatus.PENDING)
    (row,) = api_as(client_user).get(ACCOUNTS).data["results"]
    assert row["aws_account_id"] is None


@pytest.fixture
def catalogue(make_account, client_user):
    """Accounts of one customer that differ in status, environment, connection method, name and id."""
    return {
        "prod": make_account(client_user, account_name="Billing prod", account_id="111111111111"),
        "lab": make_account(
            client_user,
            account_name="Research",
            account_id="222222222222",
            environment_type=EnvironmentType.LAB,
            status=AccountStatus.FAILED,
        ),
        "keys": make_account(
            client_user,
            account_name="Legacy",
            account_id="333333333333",
            connection_method=ConnectionMethod.ACCESS_KEYS,
            role_arn="",
            external_id=None,
            status=AccountStatus.CONNECTED,
        ),
        "pending": make_account(
            client_user,
            account_name="New one",
            account_id=f"pending-{uuid.uuid4()}",
            status=AccountStatus.PENDING,
        ),
    }


@pytest.mark.parametrize(
    "query,expected",
    [
        ("status=active", {"prod"}),
        ("status=failed&status=pending", {"lab", "pending"}),
        ("environment_type=LAB", {"lab"}),
        ("environment_type=PROD", {"prod", "keys", "pending"}),
        ("connection_method=access_keys", {"keys"}),
        ("connection_method=iam_role", {"prod", "lab", "pending"}),
        ("q=billing", {"prod"}),
        ("q=  RESEARCH ", {"lab"}),
        ("q=3333", {"keys"}),
        ("q=", {"prod", "lab", "keys", "pending"}),
        ("q=nothing-matches", set()),
        ("status=connected&connection_method=access_keys&q=legacy", {"keys"}),
    ],
)
def test_filters(client_user, catalogue, query, expected):
    response = api_as(client_user).get(f"{ACCOUNTS}?{query}")
    assert response.status_code == 200
    assert set(result_ids(response)) == {str(catalogue[name].pk) for name in expected}


def test_filters_never_reach_past_the_tenant(client_user, other_client, make_account):
    make_account(other_client, account_name="Billing of someone else", account_id="444444444444")
    assert api_as(client_user).get(f"{ACCOUNTS}?q=billing").data["count"] == 0
    assert api_as(client_user).get(f"{ACCOUNTS}?q=444444444444").data["count"] == 0


@pytest.mark.parametrize("query", ["status=sleeping", "environment_type=STAGING", "connection_method=magic"])
def test_an_unknown_filter_value_is_a_400_naming_the_field(client_user, catalogue, query):
    response = api_as(client_user).get(f"{ACCOUNTS}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.data["errors"]


# --- partial_update -----------------------------------------------------------------------------------------


def test_partial_update_renames_changes_the_environment_and_chooses_regions(client_user, make_account):
    account = make_account(client_user, region="us-east-1")
    api = api_as(client_user)
    url = f"{ACCOUNTS}{account.pk}/"

    response = api.patch(url, {"account_name": "  Production EU  "}, format="json")
    assert response.status_code == 200
    assert response.data["account_name"] == "Production EU"

    response = api.patch(url, {"environment_type": "LAB"}, format="json")
    assert response.status_code == 200
    assert response.data["environment_type"] == EnvironmentType.LAB

    response = api.patch(url, {"regions": ["eu-west-1", "us-east-1", "eu-west-1"]}, format="json")
    assert response.status_code == 200
    assert response.data["regions"] == ["eu-west-1", "us-east-1"]

    # No regions at all: the home region is scanned.
    response = api.patch(url, {"regions": []}, format="json")
    assert response.data["regions"] == ["us-east-1"]

    account.refresh_from_db()
    assert (account.account_name, account.environment_type, account.regions) == (
        "Production EU",
        EnvironmentType.LAB,
        ["us-east-1"],
    )
    assert api.get(url).data["account_name"] == "Production EU"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"regions": ["us-east-1", "mars-north-1"]}, "regions"),
        ({"regions": "us-east-1"}, "regions"),
        ({"environment_type": "STAGING"}, "environment_type"),
        ({"account_name": "x" * 256}, "account_name"),
        ({"account_name": ""}, "account_name"),
        ({"account_name": "   "}, "account_name"),
    ],
)
def test_partial_update_refuses_bad_input_with_a_field_error_and_changes_nothing(
    client_user, make_account, payload, field
):
    account = make_account(client_user)
    before = rows()

    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", payload, format="json")

    assert response.status_code == 400
    assert field in response.data["errors"]
    assert rows() == before


def test_an_unknown_region_names_the_region(client_user, make_account):
    account = make_account(client_user)
    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", {"regions": ["mars-north-1"]}, format="json")
    assert response.status_code == 400
    assert "mars-north-1" in str(response.data["errors"]["regions"])


def test_put_is_not_offered(client_user, make_account):
    account = make_account(client_user)
    response = api_as(client_user).put(f"{ACCOUNTS}{account.pk}/", {"account_name": "X"}, format="json")
    assert response.status_code == 405


# --- destroy ----------------------------------------------------------------------------------------------


def test_destroy_removes_the_account_and_its_instances_and_keeps_the_approvals(
    client_user, make_account, make_instance, make_approval
):
    account = make_account(client_user)
    kept = make_account(client_user)
    instances = [make_instance(account) for _ in range(3)]
    other_instance = make_instance(kept)
    approval = make_approval(account=account, instance=instances[0], requester=client_user)

    response = api_as(client_user).delete(f"{ACCOUNTS}{account.pk}/")

    assert response.status_code == 204
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not Instance.objects.filter(pk__in=[i.pk for i in instances]).exists()
    assert Instance.objects.filter(pk=other_instance.pk).exists()
    approval = ApprovalRequest.objects.get(pk=approval.pk)  # the audit trail stays
    assert approval.account is None and approval.instance is None
    assert api_as(client_user).get(f"{ACCOUNTS}{account.pk}/").status_code == 404
    assert api_as(client_user).delete(f"{ACCOUNTS}{account.pk}/").status_code == 404


# --- retry ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_mock")
def test_retry_of_a_failed_role_account_verifies_it_again(client_user, make_account):
    account = failed_role_account(make_account, client_user)
    api = api_as(client_user)
    assert api.get(f"{ACCOUNTS}{account.pk}/").data["last_error"]["code"] == "discovery_failed"

    response = api.post(f"{ACCOUNTS}{account.pk}/retry/")

    assert response.status_code == 200
    assert response.data["status"] == AccountStatus.CONNECTED
    assert response.data["last_error"] is None
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED
    assert Account.objects.count() == 1


@pytest.mark.parametrize("status", [AccountStatus.ACTIVE, AccountStatus.CONNECTED])
def test_retry_of_a_healthy_account_is_refused_with_a_clear_message(client_user, make_account, status):
    account = make_account(client_user, status=status)
    before = rows()

    response = api_as(client_user).post(f"{ACCOUNTS}{account.pk}/retry/")

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Only a failed or pending account can be retried; this one is {status}.",
        "code": "invalid",
    }
    assert rows() == before


def test_retry_of_a_pending_role_account_without_an_arn_asks_for_it(client_user, make_account):
    account = make_account(client_user, account_id=f"pending-{uuid.uuid4()}", role_arn="", status=AccountStatus.PENDING)
    response = api_as(client_user).post(f"{ACCOUNTS}{account.pk}/retry/")
    assert response.status_code == 400
    assert response.data["code"] == "no_role"
    assert "Role ARN" in response.data["detail"]


# --- authentication: JWT and session ------------------------------------------------------------------------


def test_jwt_bearer_tokens_work_on_the_onboarding_endpoints(client_user, make_account):
    """(The accounts endpoint's JWT and CSRF checks are the contract's.)"""
    account = make_account(client_user)
    api = jwt_client(client_user)  # no CSRF token needed, even by a client that enforces CSRF checks

    assert api.get(f"{ONBOARDING}{account.pk}/discovery/").status_code == 200
    created = api.post(f"{ONBOARDING}create/", {"account_name": "Via JWT too"}, format="json")
    assert created.status_code == 201
    assert Account.objects.get(pk=created.data["account"]["id"]).user == client_user


def test_the_browsable_api_lists_accounts_for_a_signed_in_user(client, client_user, make_account):
    account = make_account(client_user, account_name="Browsable one")
    client.force_login(client_user)
    page = client.get(ACCOUNTS, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert "Browsable one" in page.content.decode()
    detail = client.get(f"{ACCOUNTS}{account.pk}/", HTTP_ACCEPT="text/html")
    assert detail.status_code == 200
    assert str(account.pk) in detail.content.decode()


# --- OpenAPI --------------------------------------------------------------------------------------------------

# --- the optimizer settings (shares, as strings like every decimal of the API; numbers are accepted) --------

OPTIMIZER_FIELDS = ["optimizer_min_saving", "optimizer_max_risk", "allow_automatic_switches", "switch_max_group_share"]


def optimizer_of(data) -> dict:
    return {name: data[name] for name in OPTIMIZER_FIELDS}


def test_the_api_shows_and_patches_the_optimizer_settings(client_user, make_account):
    account = make_account(client_user)
    api = api_as(client_user)
    url = f"{ACCOUNTS}{account.pk}/"
    # null thresholds: the installation's OPTIMIZER_MIN_SAVING / OPTIMIZER_MAX_RISK apply.
    assert optimizer_of(api.get(url).json()) == {
        "optimizer_min_saving": None,
        "optimizer_max_risk": None,
        "allow_automatic_switches": False,
        "switch_max_group_share": "0.250",
    }
    assert "optimizer_min_saving" in api.get(ACCOUNTS).json()["results"][0]

    response = api.patch(
        url,
        {
            "optimizer_min_saving": "0.3",
            "optimizer_max_risk": 0.05,
            "allow_automatic_switches": True,
            "switch_max_group_share": "1",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    set_values = {
        "optimizer_min_saving": "0.300",
        "optimizer_max_risk": "0.050",
        "allow_automatic_switches": True,
        "switch_max_group_share": "1.000",
    }
    assert optimizer_of(response.json()) == set_values
    account.refresh_from_db()
    assert (account.optimizer_min_saving, account.optimizer_max_risk) == (Decimal("0.3"), Decimal("0.05"))
    # A PATCH without them leaves them as they are.
    assert optimizer_of(api.patch(url, {"account_name": "Renamed"}, format="json").json()) == set_values

    # null puts a threshold back to the installation default, and only the one given.
    response = api.patch(url, {"optimizer_min_saving": None}, format="json")
    assert response.status_code == 200, response.content
    assert optimizer_of(response.json()) == {**set_values, "optimizer_min_saving": None}
    response = api.patch(url, {"optimizer_max_risk": None, "allow_automatic_switches": False}, format="json")
    assert optimizer_of(response.json()) == {
        **set_values,
        "optimizer_min_saving": None,
        "optimizer_max_risk": None,
        "allow_automatic_switches": False,
    }
    account.refresh_from_db()
    assert (account.optimizer_min_saving, account.optimizer_max_risk) == (None, None)


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"optimizer_min_saving": "0.009"}, "optimizer_min_saving"),
        ({"optimizer_min_saving": 0.96}, "optimizer_min_saving"),
        ({"optimizer_min_saving": "0.1234"}, "optimizer_min_saving"),
        ({"optimizer_min_saving": "20%"}, "optimizer_min_saving"),
        ({"optimizer_max_risk": "0"}, "optimizer_max_risk"),
        ({"optimizer_max_risk": "0.501"}, "optimizer_max_risk"),
        ({"switch_max_group_share": "0"}, "switch_max_group_share"),
        ({"switch_max_group_share": "1.5"}, "switch_max_group_share"),
        ({"switch_max_group_share": None}, "switch_max_group_share"),  # it has no installation default
        ({"allow_automatic_switches": "sometimes"}, "allow_automatic_switches"),
    ],
)
def test_the_api_refuses_optimizer_settings_out_of_range_and_changes_nothing(client_user, make_account, payload, field):
    account = make_account(client_user, optimizer_min_saving=Decimal("0.3"))
    before = rows()

    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", payload, format="json")

    body = api_contract.assert_error(response, 400)
    assert field in body["errors"]
    assert rows() == before


def test_the_api_refusal_says_the_range(client_user, make_account):
    account = make_account(client_user)
    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", {"optimizer_max_risk": "0.6"}, format="json")
    assert "0.5" in str(response.json()["errors"]["optimizer_max_risk"])


def test_a_read_only_user_cannot_patch_the_optimizer_settings(readonly_user, make_account):
    account = make_account(readonly_user)
    before = rows()
    response = api_as(readonly_user).patch(
        f"{ACCOUNTS}{account.pk}/",
        {"optimizer_min_saving": "0.5", "allow_automatic_switches": True, "switch_max_group_share": "1"},
        format="json",
    )
    api_contract.assert_error(response, 403)
    assert rows() == before


def test_another_teams_user_cannot_patch_the_optimizer_settings(client_user, other_client, make_account):
    theirs = make_account(other_client)
    before = rows()
    response = api_as(client_user).patch(
        f"{ACCOUNTS}{theirs.pk}/", {"optimizer_max_risk": None, "allow_automatic_switches": True}, format="json"
    )
    api_contract.assert_error(response, 404)
    assert rows() == before


PROMISED_PATHS = [
    "/api/v1/accounts/",
    "/api/v1/accounts/{id}/",
    "/api/v1/accounts/{id}/retry/",
    "/api/v1/onboarding/create/",
    "/api/v1/onboarding/{id}/template/",
    "/api/v1/onboarding/{id}/verify/",
    "/api/v1/onboarding/connect/credentials/",
    "/api/v1/onboarding/{id}/discovery/",
    "/api/v1/auth/token/",
    "/api/v1/auth/token/refresh/",
]


def test_the_openapi_schema_has_every_promised_path(client_user):
    assert APIClient().get("/api/schema/").status_code == 401

    schema = api_contract.served_schema(client_user)

    assert set(PROMISED_PATHS) <= set(schema["paths"])
    accounts_item = schema["paths"]["/api/v1/accounts/{id}/"]
    assert set(accounts_item) >= {"get", "patch", "delete"}
    assert "put" not in accounts_item
    assert set(schema["paths"]["/api/v1/onboarding/{id}/discovery/"]) >= {"get", "post"}
    # Secrets are write-only: requests take them, no response schema has them.
    keys = schema["components"]["schemas"]["AccessKeysRequest"]["properties"]
    assert keys["secret_access_key"]["writeOnly"] is True
    assert "secret_access_key" not in schema["components"]["schemas"]["Account"]["properties"]
