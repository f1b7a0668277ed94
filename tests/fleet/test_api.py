"""The instances API (/api/v1/instances/): who may see and change what; what an instance looks like; the
Lab controls through PATCH; filters, search, ordering and the OpenAPI schema. The API contract (anonymous
callers, outsiders, refused roles, unknown ids, pagination, queries, JWT and CSRF) is tests/api_contract.py's,
for the endpoint described in TestInstancesContract.

Decisions pinned here:
- Customers (client, user) only read. Their PATCH is refused by role (403) before the instance is looked
  up, so the answer is the same for their own instance, another tenant's and one that does not exist:
  it says nothing about what exists (as in the accounts API).
- A PATCH changes the Lab controls only (pipeline_mode, is_shadow_mode, assigned_model_version). Any
  other field (instance_type, region, …) is refused with a 400 naming it, and nothing changes: an
  integrator who sends it expects it to change, so the API says it will not rather than ignore it.
"""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.choices import AccountStatus, EnvironmentType, Role
from fleet.api import LAB_CONTROLS_REFUSED
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType, PipelineMode
from fleet.models import Instance
from mlgov.choices import ModelStatus
from tests import api_contract
from tests.api_contract import ApiContract, Call, Endpoint, api_as, environment_of, result_ids

pytestmark = pytest.mark.django_db

INSTANCES = "/api/v1/instances/"
NOT_LAB = {
    "detail": "Lab controls apply to instances of LAB-environment accounts only; this one is production.",
    "code": "not_lab",
}
REFUSED = {"detail": LAB_CONTROLS_REFUSED, "code": "permission_denied"}
LAB_CHANGE = {"pipeline_mode": PipelineMode.LINEAR, "is_shadow_mode": True}
# What an instance looks like, field by field in this order.
INSTANCE_FIELDS = """
    id instance_id name account instance_type availability_zone region lifecycle hourly_price price_source
    orchestrator_type cluster_membership auth_status flagged_at pipeline_mode is_shadow_mode assigned_model_version
    is_replica replica_of replica_expiry is_active last_evaluation instance_metadata created_at updated_at
"""


def rows():
    """Every instance row, for 'nothing changed' checks."""
    return list(Instance.objects.order_by("pk").values())


def detail(instance) -> str:
    return f"{INSTANCES}{instance.pk}/"


# --- the API contract (tests/api_contract.py) ------------------------------------------------------------


def contract_instance(tenant, n):
    """Row n of the contract checks: instances on the team's LAB and production accounts, spot and on-demand,
    every third a replica of an instance before it on its account (row 0: a LAB spot instance)."""
    account = tenant.account_in(environment_of(n))
    fields = {"lifecycle": [Lifecycle.SPOT, Lifecycle.ON_DEMAND][n // 2 % 2], "instance_metadata": {"name": f"box-{n}"}}
    if n % 3 == 2:
        original = Instance.objects.filter(account=account, is_replica=False).latest("created_at")
        fields |= {"is_replica": True, "replica_of": original, "replica_expiry": timezone.now()}
    return tenant.fixture("make_instance")(account, **fields)


class TestInstancesContract(ApiContract):
    endpoint = Endpoint(
        list_url=INSTANCES,
        make=contract_instance,
        models=(Instance,),
        secrets=lambda instance: [instance.instance_id, instance.account.account_name, instance.name],
        writers=frozenset({Role.LAB, Role.ADMIN, Role.SUPER_ADMIN}),
        write_refusal=LAB_CONTROLS_REFUSED,
        # Customers are refused by role before the instance is looked up: an outsider's answer is the 403.
        writes=(Call("partial_update", "patch", "{pk}/", LAB_CHANGE, ok=200, answer=LAB_CHANGE, outsider=403),),
        not_allowed=(
            Call("create", "post", "", {"pipeline_mode": "LINEAR"}),
            Call("update", "put", "{pk}/", {"pipeline_mode": "LINEAR"}),
            Call("destroy", "delete", "{pk}/"),
        ),
        list_queries=("", "?ordering=-hourly_price&q=i-", "?is_active=true&lifecycle=spot"),
        max_list_queries=3,  # the reader's account ids (spotopt.scoping), a count and a page
    )


# --- who may do what: every endpoint ---------------------------------------------------------------------
# Anonymous callers and outsiders (another team's clients) are the contract's checks above.


@dataclass(frozen=True)
class Actor:
    role: str
    owner: str = "client"  # "self": the actor owns the target's account; "client": some customer does
    environment: str = EnvironmentType.LAB


ACTORS = {
    "owner": Actor(Role.CLIENT, owner="self"),
    "owner_on_prod": Actor(Role.CLIENT, owner="self", environment=EnvironmentType.PROD),
    "readonly_owner": Actor(Role.USER, owner="self"),
    "lab_on_lab": Actor(Role.LAB),
    "lab_on_prod": Actor(Role.LAB, environment=EnvironmentType.PROD),
    "admin": Actor(Role.ADMIN),
    "admin_on_prod": Actor(Role.ADMIN, environment=EnvironmentType.PROD),
    "super_admin": Actor(Role.SUPER_ADMIN),
    "super_admin_on_prod": Actor(Role.SUPER_ADMIN, environment=EnvironmentType.PROD),
}

# fmt: off
COLUMNS = ("list", "retrieve", "partial_update")
EXPECTED = {
    #                      list retr  patch
    "owner":               (200, 200, 403),
    "owner_on_prod":       (200, 200, 403),
    "readonly_owner":      (200, 200, 403),
    "lab_on_lab":          (200, 200, 200),
    "lab_on_prod":         (200, 404, 404),
    "admin":               (200, 200, 200),
    "admin_on_prod":       (200, 200, 400),
    "super_admin":         (200, 200, 200),
    "super_admin_on_prod": (200, 200, 400),
}
# fmt: on
SEES_TARGET = {name for name, codes in EXPECTED.items() if codes[1] == 200}
SEES_EVERY_TENANT = {"admin", "admin_on_prod", "super_admin", "super_admin_on_prod"}
CASES = [pytest.param(actor, endpoint, id=f"{actor}-{endpoint}") for actor in EXPECTED for endpoint in COLUMNS]


@pytest.mark.parametrize("actor_name,endpoint_name", CASES)
def test_who_may_do_what_on_every_endpoint(make_user, make_account, make_instance, actor_name, endpoint_name):
    actor = ACTORS[actor_name]
    expected = EXPECTED[actor_name][COLUMNS.index(endpoint_name)]
    person = make_user(actor.role)
    owner = person if actor.owner == "self" else make_user(Role.CLIENT)
    account = make_account(owner, account_name="Target account", environment_type=actor.environment)
    target = make_instance(account, instance_metadata={"name": "target-box"})
    # Another customer's instance on an account of the same environment.
    bystander = make_instance(make_account(make_user(Role.CLIENT), environment_type=actor.environment))
    api = api_as(person)

    with api_contract.changes_nothing([Instance]) if expected >= 400 else nullcontext():
        if endpoint_name == "list":
            response = api.get(INSTANCES)
        elif endpoint_name == "retrieve":
            response = api.get(detail(target))
        else:
            response = api.patch(detail(target), LAB_CHANGE, format="json")

    assert response.status_code == expected, response.content
    if expected >= 400:
        body = api_contract.assert_refused(
            response, expected, [str(target.pk), target.instance_id, "Target account", "target-box"]
        )
    if expected == 403:
        assert body == REFUSED
    if expected == 400:
        assert body == NOT_LAB
    if endpoint_name == "list" and expected == 200:
        ids = result_ids(response)
        assert (str(target.pk) in ids) == (actor_name in SEES_TARGET)
        assert (str(bystander.pk) in ids) == (actor_name in SEES_EVERY_TENANT | {"lab_on_lab"})
    if endpoint_name == "retrieve" and expected == 200:
        assert response.data["id"] == str(target.pk)
        assert response.data["instance_id"] == target.instance_id
        assert response.data["account"]["name"] == "Target account"
    if endpoint_name == "partial_update" and expected == 200:
        target.refresh_from_db()
        assert (target.pipeline_mode, target.is_shadow_mode) == (PipelineMode.LINEAR, True)
        assert (response.data["pipeline_mode"], response.data["is_shadow_mode"]) == (PipelineMode.LINEAR, True)
        assert response.data == api.get(detail(target)).data  # the answer is what a GET shows


def test_a_customer_patch_is_refused_alike_for_any_id(client_user, other_client, make_account, make_instance):
    """Own instance, another tenant's, one that does not exist: the same 403, so nothing leaks."""
    own = make_instance(make_account(client_user, environment_type=EnvironmentType.LAB))
    theirs = make_instance(make_account(other_client, environment_type=EnvironmentType.LAB))
    api = api_as(client_user)

    answers = [
        api.patch(f"{INSTANCES}{pk}/", {"pipeline_mode": "LINEAR"}, format="json")
        for pk in (own.pk, theirs.pk, uuid.uuid4())
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(403, REFUSED)] * 3


# --- what an instance looks like ------------------------------------------------------------------------


def test_an_instance_shows_what_an_integrator_needs(client_user, make_account, make_instance):
    account = make_account(
        client_user, account_name="Production", account_id="123412341234", environment_type=EnvironmentType.PROD
    )
    now = timezone.now()
    metadata = {
        "state": "running",
        "name": "web-1",
        "tags": {"Name": "web-1", "team": "payments"},
        "private_ip": "10.0.0.12",
        "spot_price": "",
    }
    instance = make_instance(
        account,
        instance_id="i-0123456789abcdef0",
        instance_type="m5.large",
        availability_zone="eu-west-1b",
        region="eu-west-1",
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "prod-eks", "node_group": "ng-1"},
        auth_status=AuthStatus.FLAGGED,
        flagged_at=now,
        assigned_model_version="1.4",
        last_evaluation=now,
        instance_metadata=metadata,
    )

    data = api_as(client_user).get(detail(instance)).json()

    assert list(data) == INSTANCE_FIELDS.split()
    assert (data["id"], data["instance_id"], data["name"]) == (str(instance.pk), "i-0123456789abcdef0", "web-1")
    assert data["account"] == {
        "id": str(account.pk),
        "name": "Production",
        "aws_account_id": "123412341234",
        "environment_type": "PROD",
    }
    assert (data["instance_type"], data["availability_zone"], data["region"]) == (
        "m5.large",
        "eu-west-1b",
        "eu-west-1",
    )
    # On-demand list price of m5.large (0.096 in us-east-1) times the eu-west-1 factor (1.11).
    assert (data["lifecycle"], data["hourly_price"]) == (
        "on-demand",
        "0.106600",
    )  # six decimal places, like every price
    assert data["orchestrator_type"] == "KUBERNETES"
    assert data["cluster_membership"] == {"cluster_name": "prod-eks", "node_group": "ng-1"}
    assert data["auth_status"] == "FLAGGED" and data["flagged_at"]
    assert (data["pipeline_mode"], data["is_shadow_mode"], data["assigned_model_version"]) == ("CLUSTER", False, "1.4")
    assert (data["is_replica"], data["replica_of"], data["replica_expiry"]) == (False, None, None)
    assert data["is_active"] is True
    assert data["last_evaluation"] and data["created_at"] and data["updated_at"]
    assert data["instance_metadata"] == metadata


@pytest.mark.parametrize(
    "fields,price",
    [
        ({"lifecycle": Lifecycle.ON_DEMAND, "instance_type": "m5.large"}, "0.096000"),
        ({"lifecycle": Lifecycle.SPOT, "instance_metadata": {"spot_price": "0.031200"}}, "0.031200"),
        ({"lifecycle": Lifecycle.SPOT, "instance_metadata": {"spot_price": ""}}, None),  # not recorded
        ({"lifecycle": Lifecycle.SPOT, "instance_metadata": {}}, None),
        ({"lifecycle": Lifecycle.SPOT, "instance_metadata": {"spot_price": "n/a"}}, None),  # garbage: unknown
        ({"lifecycle": Lifecycle.ON_DEMAND, "instance_type": "zz9.mega"}, None),  # not in the catalog
    ],
    ids=["on-demand", "spot", "spot-unpriced", "spot-no-metadata", "spot-garbage", "unknown-type"],
)
def test_the_hourly_price_is_a_decimal_string_or_null_never_zero(
    client_user, make_account, make_instance, fields, price
):
    instance = make_instance(make_account(client_user), **fields)
    assert api_as(client_user).get(detail(instance)).json()["hourly_price"] == price


def test_the_name_comes_from_the_name_tag(client_user, make_account, make_instance):
    account = make_account(client_user)
    by_metadata = make_instance(account, instance_metadata={"name": "api-1", "tags": {"Name": "api-1"}})
    by_tag_only = make_instance(account, instance_metadata={"tags": {"Name": "worker-7"}})
    nameless = make_instance(account, instance_metadata={})
    api = api_as(client_user)
    assert [api.get(detail(i)).data["name"] for i in (by_metadata, by_tag_only, nameless)] == ["api-1", "worker-7", ""]


def test_a_replica_names_the_instance_it_stands_in_for(client_user, make_account, make_instance):
    account = make_account(client_user)
    original = make_instance(account, instance_id="i-00000000000000001")
    expiry = timezone.now() + timedelta(hours=2)
    replica = make_instance(account, is_replica=True, replica_of=original, replica_expiry=expiry)
    api = api_as(client_user)

    data = api.get(detail(replica)).data
    assert (data["is_replica"], data["replica_of"]) == (True, "i-00000000000000001")
    assert data["replica_expiry"] is not None

    original.delete()  # the replica keeps its row
    assert api.get(detail(replica)).data["replica_of"] is None


def test_a_pending_account_has_no_aws_account_id(client_user, make_account, make_instance):
    account = make_account(client_user, account_id=f"pending-{uuid.uuid4()}", status=AccountStatus.PENDING)
    instance = make_instance(account)
    assert api_as(client_user).get(detail(instance)).data["account"]["aws_account_id"] is None


# --- the Lab controls (PATCH) --------------------------------------------------------------------------------


@pytest.fixture
def lab_instance(make_user, make_account, make_instance):
    account = make_account(make_user(Role.CLIENT), environment_type=EnvironmentType.LAB)
    return make_instance(account, instance_type="c5.xlarge", region="us-east-1", assigned_model_version="")


def test_lab_controls_change_one_at_a_time(lab_user, lab_instance, make_ml_model):
    model = make_ml_model(version="2.1.0", status=ModelStatus.TESTING)
    api = api_as(lab_user)
    url = detail(lab_instance)

    assert api.patch(url, {"pipeline_mode": "LINEAR"}, format="json").data["pipeline_mode"] == "LINEAR"
    assert api.patch(url, {"is_shadow_mode": True}, format="json").data["is_shadow_mode"] is True
    response = api.patch(url, {"assigned_model_version": f"  {model.version} "}, format="json")
    assert response.status_code == 200
    assert response.data["assigned_model_version"] == "2.1.0"

    lab_instance.refresh_from_db()
    assert (lab_instance.pipeline_mode, lab_instance.is_shadow_mode, lab_instance.assigned_model_version) == (
        PipelineMode.LINEAR,
        True,
        "2.1.0",
    )
    # An empty version unassigns the model; the other controls stay.
    response = api.patch(url, {"assigned_model_version": ""}, format="json")
    assert (response.data["assigned_model_version"], response.data["pipeline_mode"]) == ("", "LINEAR")
    assert api.patch(url, {"is_shadow_mode": False}, format="json").data["is_shadow_mode"] is False


def test_an_empty_patch_changes_nothing(lab_user, lab_instance):
    before = rows()
    response = api_as(lab_user).patch(detail(lab_instance), {}, format="json")
    assert response.status_code == 200
    assert response.data["id"] == str(lab_instance.pk)
    assert rows() == before


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"pipeline_mode": "PARALLEL"}, "pipeline_mode"),
        ({"pipeline_mode": ""}, "pipeline_mode"),
        ({"pipeline_mode": None}, "pipeline_mode"),
        ({"is_shadow_mode": "maybe"}, "is_shadow_mode"),
        ({"is_shadow_mode": None}, "is_shadow_mode"),
        ({"assigned_model_version": "v" * 65}, "assigned_model_version"),
        ({"assigned_model_version": None}, "assigned_model_version"),
        ({"pipeline_mode": "LINEAR", "is_shadow_mode": "maybe"}, "is_shadow_mode"),  # all or nothing
    ],
)
def test_bad_lab_input_is_a_field_error_and_changes_nothing(lab_user, lab_instance, payload, field):
    before = rows()
    response = api_as(lab_user).patch(detail(lab_instance), payload, format="json")
    assert response.status_code == 400
    assert field in response.data["errors"]
    assert rows() == before


def test_a_bad_pipeline_mode_says_which_are_valid(lab_user, lab_instance):
    response = api_as(lab_user).patch(detail(lab_instance), {"pipeline_mode": "PARALLEL"}, format="json")
    assert response.status_code == 400
    assert response.data["errors"]["pipeline_mode"] == ['"PARALLEL" is not a valid choice.']


def test_a_body_that_is_not_an_object_is_a_400(lab_user, lab_instance):
    before = rows()
    response = api_as(lab_user).patch(detail(lab_instance), ["LINEAR"], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.data["errors"]
    assert rows() == before


@pytest.mark.parametrize("status", [None, ModelStatus.ARCHIVED], ids=["unknown", "archived"])
def test_a_model_version_must_name_a_usable_model(lab_user, lab_instance, make_ml_model, status):
    version = "9.9.9"
    if status:
        make_ml_model(version=version, status=status)
    before = rows()

    response = api_as(lab_user).patch(detail(lab_instance), {"assigned_model_version": version}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "No usable model has version '9.9.9' (archived models cannot be assigned).",
        "code": "unknown_model_version",
    }
    assert rows() == before


@pytest.mark.parametrize(
    "status", [ModelStatus.CANDIDATE, ModelStatus.TESTING, ModelStatus.GRADUATED, ModelStatus.ENABLED]
)
def test_any_model_that_is_not_archived_can_be_assigned(admin_user, lab_instance, make_ml_model, status):
    make_ml_model(version="3.0", status=status)
    response = api_as(admin_user).patch(detail(lab_instance), {"assigned_model_version": "3.0"}, format="json")
    assert response.status_code == 200
    lab_instance.refresh_from_db()
    assert lab_instance.assigned_model_version == "3.0"


@pytest.mark.parametrize(
    "payload",
    [
        {"instance_type": "t3.nano"},
        {"region": "eu-west-1"},
        {"auth_status": "AUTHORIZED"},
        {"is_active": False},
        {"account": "00000000-0000-0000-0000-000000000000"},
        {"instance_metadata": {"name": "renamed"}},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"pipeline_mode": "LINEAR", "instance_type": "t3.nano"},  # refused as a whole
    ],
    ids=lambda payload: "+".join(payload),
)
def test_read_only_fields_are_refused_by_name_and_nothing_changes(admin_user, lab_instance, payload):
    before = rows()

    response = api_as(admin_user).patch(detail(lab_instance), payload, format="json")

    assert response.status_code == 400
    refused = set(payload) - {"pipeline_mode"}
    assert set(response.data["errors"]) == refused
    for name in refused:
        assert response.data["errors"][name] == [
            "This field is read-only; only pipeline_mode, is_shadow_mode, assigned_model_version can be changed."
        ]
    assert rows() == before


def test_form_encoded_patches_work_too(lab_user, lab_instance):
    response = api_as(lab_user).patch(
        detail(lab_instance),
        "pipeline_mode=LINEAR&is_shadow_mode=true",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert (response.data["pipeline_mode"], response.data["is_shadow_mode"]) == ("LINEAR", True)


def test_a_production_instance_is_refused_even_with_valid_input(admin_user, make_account, make_instance, make_ml_model):
    make_ml_model(version="5.0", status=ModelStatus.ENABLED)
    instance = make_instance(make_account(admin_user, environment_type=EnvironmentType.PROD))
    before = rows()
    for payload in ({"pipeline_mode": "LINEAR"}, {"is_shadow_mode": True}, {"assigned_model_version": "5.0"}, {}):
        response = api_as(admin_user).patch(detail(instance), payload, format="json")
        assert (response.status_code, response.json()) == (400, NOT_LAB)
    assert rows() == before


# --- list: filters, search, ordering (scoping, pagination, queries: the contract) -------------------------


@pytest.fixture
def catalogue(client_user, make_account, make_instance):
    """One customer's instances that differ in every filtered field."""
    web = make_account(client_user, account_name="Alpha web")
    lab = make_account(client_user, account_name="Beta lab", environment_type=EnvironmentType.LAB)
    earlier = timezone.now() - timedelta(days=3)
    items = {
        "web": make_instance(
            web,
            instance_id="i-0a00000000000000a",
            instance_type="m5.large",
            region="us-east-1",
            availability_zone="us-east-1a",
            auth_status=AuthStatus.AUTHORIZED,
            instance_metadata={"name": "web-frontend", "tags": {"Name": "web-frontend"}},
            last_evaluation=earlier,
        ),
        "node": make_instance(
            web,
            instance_id="i-0b00000000000000b",
            instance_type="c5.xlarge",
            region="eu-west-1",
            availability_zone="eu-west-1b",
            lifecycle=Lifecycle.SPOT,
            orchestrator_type=OrchestratorType.KUBERNETES,
            cluster_membership={"cluster_name": "payments-eks", "asg_name": "eks-ng-payments"},
            auth_status=AuthStatus.FLAGGED,
            instance_metadata={"name": "", "spot_price": "0.05"},
            last_evaluation=earlier + timedelta(days=1),
        ),
        "shadow": make_instance(
            lab,
            instance_id="i-0c00000000000000c",
            instance_type="t3.micro",
            region="us-west-2",
            availability_zone="us-west-2c",
            pipeline_mode=PipelineMode.LINEAR,
            is_shadow_mode=True,
            auth_status=AuthStatus.UNAUTHORIZED,
            cluster_membership={"asg_name": "batch-workers"},
            instance_metadata={"name": "Batch Runner"},
        ),
        "gone": make_instance(
            lab,
            instance_id="i-0d00000000000000d",
            instance_type="m5.large",
            region="us-east-1",
            availability_zone="us-east-1d",
            auth_status=AuthStatus.TERMINATED,
            is_active=False,
        ),
    }
    # discovered_at (created_at) in a known order: web, node, shadow, gone.
    for n, name in enumerate(["web", "node", "shadow", "gone"]):
        Instance.objects.filter(pk=items[name].pk).update(created_at=earlier + timedelta(hours=n))
    items["accounts"] = {"web": web, "lab": lab}
    return items


ALL = {"web", "node", "shadow", "gone"}


@pytest.mark.parametrize(
    "query,expected",
    [
        ("", ALL),
        ("account=web", {"web", "node"}),
        ("account=lab&is_active=true", {"shadow"}),
        ("region=us-east-1", {"web", "gone"}),
        ("region=eu-west-1", {"node"}),
        ("region=mars-north-1", set()),
        ("instance_type=m5.large", {"web", "gone"}),
        ("lifecycle=spot", {"node"}),
        ("lifecycle=on-demand", {"web", "shadow", "gone"}),
        ("orchestrator_type=KUBERNETES", {"node"}),
        ("orchestrator_type=STANDALONE", {"web", "shadow", "gone"}),
        ("auth_status=FLAGGED", {"node"}),
        ("auth_status=UNAUTHORIZED&auth_status=TERMINATED", {"shadow", "gone"}),
        ("pipeline_mode=LINEAR", {"shadow"}),
        ("pipeline_mode=CLUSTER", {"web", "node", "gone"}),
        ("is_shadow_mode=true", {"shadow"}),
        ("is_shadow_mode=false", {"web", "node", "gone"}),
        ("is_active=true", {"web", "node", "shadow"}),
        ("is_active=false", {"gone"}),
        ("region=us-east-1&is_active=true&lifecycle=on-demand", {"web"}),
        # q: instance id, type, Name, cluster name, Auto Scaling group; trimmed, case-insensitive.
        ("q=i-0b00", {"node"}),
        ("q=T3.MICRO", {"shadow"}),
        ("q=frontend", {"web"}),
        ("q=batch runner", {"shadow"}),
        ("q=payments-EKS", {"node"}),
        ("q=eks-ng", {"node"}),
        ("q=batch-workers", {"shadow"}),
        ("q=  web-front  ", {"web"}),
        ("q=", ALL),
        ("q=nothing-matches", set()),
        ("q=m5&is_active=true", {"web"}),
    ],
)
def test_filters_and_search(client_user, catalogue, query, expected):
    for name, account in catalogue["accounts"].items():
        query = query.replace(f"account={name}", f"account={account.pk}")
    response = api_as(client_user).get(f"{INSTANCES}?{query}")
    assert response.status_code == 200
    assert set(result_ids(response)) == {str(catalogue[name].pk) for name in expected}
    assert response.data["count"] == len(expected)


@pytest.mark.parametrize(
    "ordering,expected",
    [
        ("", ["web", "node", "shadow", "gone"]),  # the default: instance id (the unique index's order)
        ("instance_id", ["web", "node", "shadow", "gone"]),
        ("-instance_id", ["gone", "shadow", "node", "web"]),
        ("instance_type,instance_id", ["node", "web", "gone", "shadow"]),
        ("region,instance_id", ["node", "web", "gone", "shadow"]),
        ("-region,-instance_id", ["shadow", "gone", "web", "node"]),
        ("availability_zone", ["node", "web", "gone", "shadow"]),
        ("lifecycle,instance_id", ["web", "shadow", "gone", "node"]),
        ("orchestrator_type,-instance_id", ["node", "gone", "shadow", "web"]),
        ("auth_status", ["web", "node", "gone", "shadow"]),
        ("discovered_at", ["web", "node", "shadow", "gone"]),
        ("-discovered_at", ["gone", "shadow", "node", "web"]),
    ],
)
def test_ordering(client_user, catalogue, ordering, expected):
    query = f"?ordering={ordering}" if ordering else ""
    response = api_as(client_user).get(f"{INSTANCES}{query}")
    assert response.status_code == 200
    assert result_ids(response) == [str(catalogue[name].pk) for name in expected]


@pytest.mark.parametrize("ordering", ["last_evaluation", "-last_evaluation"])
def test_ordering_by_last_evaluation_puts_the_never_evaluated_last(client_user, catalogue, ordering):
    response = api_as(client_user).get(f"{INSTANCES}?ordering={ordering}&is_active=true")
    # web was evaluated before node; shadow never: last either way, on SQLite as on PostgreSQL.
    evaluated = ["web", "node"] if ordering == "last_evaluation" else ["node", "web"]
    assert result_ids(response) == [str(catalogue[name].pk) for name in (*evaluated, "shadow")]


def test_ordering_by_account_is_refused_with_the_orders_offered(client_user, catalogue):
    # Sorting by account name is a join no index keeps in order; the account filter narrows instead.
    response = api_as(client_user).get(f"{INSTANCES}?ordering=account")
    assert response.status_code == 400
    assert "ordering" in response.json()["errors"]


@pytest.mark.parametrize(
    "query",
    [
        "lifecycle=reserved",
        "orchestrator_type=NOMAD",
        "auth_status=MAYBE",
        "pipeline_mode=PARALLEL",
        "account=nope",
        f"account={uuid.uuid4()}",
        "ordering=secret_column",
        "ordering=instance_metadata",
    ],
)
def test_an_unknown_filter_value_is_a_400_naming_the_field(client_user, catalogue, query):
    response = api_as(client_user).get(f"{INSTANCES}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.data["errors"]


@pytest.mark.parametrize("query", ["is_active=perhaps", "is_shadow_mode=perhaps", "is_active=1", "is_active=TRUE"])
def test_an_unrecognised_boolean_filters_nothing(client_user, catalogue, query):
    """The boolean filters (django-filter's BooleanFilter in fleet.filters, shared with the dashboard) read
    true/false and True/False; anything else, 1/0 included, means 'no filter' rather than a 400."""
    response = api_as(client_user).get(f"{INSTANCES}?{query}")
    assert response.status_code == 200
    assert response.data["count"] == len(ALL)


def test_filters_never_reach_past_the_tenant(client_user, other_client, make_account, make_instance):
    theirs = make_account(other_client, account_name="Their secret account")
    make_instance(theirs, instance_id="i-0ffffffffffffffff", instance_metadata={"name": "their-box"})
    api = api_as(client_user)

    assert api.get(f"{INSTANCES}?q=their-box").data["count"] == 0
    assert api.get(f"{INSTANCES}?q=i-0ffff").data["count"] == 0
    response = api.get(f"{INSTANCES}?account={theirs.pk}")
    assert response.status_code == 400
    assert "Select a valid choice" in str(response.data["errors"]["account"])
    assert "Their secret account" not in response.content.decode()


def test_a_lab_user_cannot_filter_by_a_production_account(lab_user, make_user, make_account, make_instance):
    prod = make_account(make_user(Role.CLIENT))
    make_instance(prod)
    response = api_as(lab_user).get(f"{INSTANCES}?account={prod.pk}")
    assert response.status_code == 400
    assert "account" in response.data["errors"]


def test_filters_and_ordering_carry_over_to_the_next_page(client_user, make_account):
    """(That following `next` returns every row once is the contract's check.)"""
    page_size = TestInstancesContract.endpoint.page_size()
    account = make_account(client_user)
    Instance.objects.bulk_create(
        Instance(
            account=account,
            instance_id=f"i-{n:017x}",
            instance_type="m5.large",
            availability_zone="us-east-1a",
            region=["us-east-1", "eu-west-1"][n % 2],
        )
        for n in range(2 * page_size + 2)
    )

    pages = api_contract.walk_list(api_as(client_user), f"{INSTANCES}?ordering=-instance_id&region=us-east-1")

    assert len(pages) > 1
    assert [row["instance_id"] for page in pages for row in page.data["results"]] == [
        f"i-{n:017x}" for n in range(2 * page_size, -1, -2)
    ]


def test_the_browsable_api_offers_the_lab_form_to_lab_users_only(client, make_user, make_account, make_instance):
    owner = make_user(Role.CLIENT)
    instance = make_instance(
        make_account(owner, environment_type=EnvironmentType.LAB), instance_metadata={"name": "browsable-box"}
    )

    client.force_login(owner)
    page = client.get(detail(instance), HTTP_ACCEPT="text/html").content.decode()
    assert "browsable-box" in page
    assert 'name="_content"' not in page  # no PATCH form for a customer

    client.force_login(make_user(Role.LAB))
    page = client.get(detail(instance), HTTP_ACCEPT="text/html").content.decode()
    assert "browsable-box" in page
    assert 'name="_content"' in page and "PATCH" in page
    assert "instance_type" not in page.split('name="_content"', 1)[1].split("</textarea>", 1)[0]

    listing = client.get(f"{INSTANCES}?q=browsable", HTTP_ACCEPT="text/html")
    assert listing.status_code == 200
    assert str(instance.pk) in listing.content.decode()


# --- OpenAPI --------------------------------------------------------------------------------------------------

PROMISED_PATHS = ["/api/v1/instances/", "/api/v1/instances/{id}/"]


def test_the_openapi_schema_describes_the_instances_api(client_user):
    schema = api_contract.served_schema(client_user)

    assert set(PROMISED_PATHS) <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/instances/"]) == {"get"}
    assert set(schema["paths"]["/api/v1/instances/{id}/"]) == {"get", "patch"}
    list_parameters = {p["name"] for p in schema["paths"]["/api/v1/instances/"]["get"]["parameters"]}
    # The filters, search and ordering, and whatever the pagination documents (page numbers or cursors).
    filters = "account region instance_type lifecycle orchestrator_type auth_status pipeline_mode is_shadow_mode"
    assert list_parameters == {
        *f"{filters} is_active q ordering".split(),
        *api_contract.pagination_parameters(INSTANCES),
    }
    patch = schema["paths"]["/api/v1/instances/{id}/"]["patch"]
    assert set(patch["responses"]) >= {"200", "400", "403", "404"}
    components = schema["components"]["schemas"]
    request_ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(components[request_ref.rsplit("/", 1)[1]]["properties"]) == {
        "pipeline_mode",
        "is_shadow_mode",
        "assigned_model_version",
    }
    instance = components["Instance"]["properties"]
    assert instance["hourly_price"]["type"] == "string" and instance["hourly_price"]["nullable"] is True
    assert all(prop.get("readOnly") for name, prop in instance.items() if name != "account")
    assert set(components["InstanceAccount"]["properties"]) == {"id", "name", "aws_account_id", "environment_type"}
