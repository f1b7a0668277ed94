"""A bounded property-based run of the whole OpenAPI schema (schemathesis), in-process.

Every operation of the schema /api/schema/ serves becomes one pytest item per role
(`test_api[POST /api/v1/accounts/{id}/retry/][client]`). Each gets a few generated, schema-valid requests,
sent to Django's WSGI handler in the test's own thread (so they see the test's transaction), signed in with
a JWT of the role. Every response must pass:

- not_a_server_error: no 5xx;
- status_code_conformance: the status is one the schema documents for the operation;
- content_type_conformance: the content type is one documented for that status;
- response_schema_conformance: the body matches the documented schema;
- response_headers_conformance: the documented headers are there, and valid.

Schema-valid ("positive") requests only: negative_data_rejection and positive_data_acceptance are left out
(DRF ignores unknown fields and coerces 0 to "0", and a schema-valid request may still be refused by a
business rule: 403 for a role, 409 already decided), and so are the stateful checks.
"""

import itertools
import uuid

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import teams
from accounts.choices import AccountStatus, EnvironmentType, Role
from accounts.models import Account
from approvals.choices import ApprovalStatus, ExecutionStatus
from kube.choices import ClusterSource
from kube.models import KubeCluster
from mlgov.choices import ModelStatus
from mlgov.services import model_move, model_upload
from risk.choices import HeldEventStatus
from risk.models import HeldRiskEvent
from tests.aws_fixtures import CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT, create_user_with_keys, moto  # noqa: F401
from tests.conftest import TEST_PASSWORD
from tests.kube.test_api import make_cluster, make_drain
from tests.mlgov.onnx_models import risk_model
from tests.risk.factories import make_event, make_held, make_pool, make_rejected
from tests.savings.test_pages_api import make_day
from tests.sla.test_api import make_downtime
from tests.waste.test_api import make_waste

PLATFORM_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# The schema the project serves, built in-process at collection time: no HTTP and no database (pytest-django
# blocks queries during collection, so one here would fail loudly).
schema = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True),
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "positive",
                # DRF's CharField refuses NUL characters (400), which a JSON Schema cannot say.
                "allow-x00": False,
                "database": "none",
                # No generated Authorization header or session cookie: each request carries a real JWT.
                "with-security-parameters": False,
            },
            "operations": [
                {
                    # Every case creates IAM keys in moto and connects (and discovers) an account: the ~160 cases
                    # of the coverage phase would take 30 s a role. The fuzzing phase still sends its examples.
                    "include-path": path,
                    "phases": {"coverage": {"enabled": False}},
                }
                for path in ("/api/v1/onboarding/connect/credentials/", "/api/v1/onboarding/{id}/credentials/")
            ],
        }
    ),
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, without the per-request connection clean-up: request_started/finished run
    close_old_connections, which inside the test's transaction closes the connection (Django's test client
    disconnects them the same way)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _platform(settings, moto):  # noqa: F811  (after moto, which empties PLATFORM_AWS_PRINCIPAL_ARN)
    # Under moto the caller is a user, not a role: the template would be refused (platform setup incomplete).
    settings.PLATFORM_AWS_PRINCIPAL_ARN = PLATFORM_ARN


@pytest.fixture(params=[Role.CLIENT, Role.ADMIN, Role.LAB])
def signed_in(request, make_user, client_user):
    """The person asking. The tenant's rows belong to client_user's team; admins see every tenant, lab users
    LAB accounts (their rows are made LAB), and neither has a team."""
    return client_user if request.param == Role.CLIENT else make_user(request.param)


# Each example is one of three variants, in turn: the happy path (a row the person may see, in the state the
# action needs, and real inputs), a refusal (the row in a state the action refuses, or an AWS account another
# tenant has: the 400s and 409s of the services), or an id nobody has (404).
VARIANTS = itertools.cycle(["happy", "refused", "happy", "unknown", "happy"])
_serial = itertools.count(1)


@pytest.fixture
def prepare(client_user, other_client, make_user, make_account, make_instance, make_approval, make_experiment):
    """Fill in a case: a fresh row of the tenant for the path's `{id}` (made again for every example, because
    examples change rows: DELETE, approve, retry ...), and the fields the schema types only as strings but that
    must be real for the request to get anywhere (a role ARN, AWS keys in moto, the person's own credentials or
    refresh token, so the success answers of the token endpoints are checked too)."""

    def failed_execution(account):
        now = timezone.now()
        return make_approval(
            account=account,
            status=ApprovalStatus.APPROVED,
            decided_at=now,
            execution_status=ExecutionStatus.FAILED,
            execution_attempts=1,
            execution_queued_at=now,
            execution_started_at=now,
            execution_finished_at=now,
            execution_error="AWS said no.",
        )

    def row(case, user, refused: bool):
        env = EnvironmentType.LAB if user.role == Role.LAB else EnvironmentType.PROD
        account = make_account  # (owner, **fields)
        operation = (case.method.upper(), case.path)
        if operation == ("POST", "/api/v1/accounts/{id}/retry/"):
            # Failed: the role is assumed again (moto). Refused: an active account has nothing to retry (400).
            status = AccountStatus.ACTIVE if refused else AccountStatus.FAILED
            return account(client_user, status=status, environment_type=env)
        if operation == ("POST", "/api/v1/onboarding/{id}/discovery/"):
            # Active: discovery is queued (and run: Q_CLUSTER sync). Refused: a pending one cannot be (400).
            status = AccountStatus.PENDING if refused else AccountStatus.ACTIVE
            return account(client_user, status=status, environment_type=env)
        if case.path.startswith("/api/v1/onboarding/"):
            # Pending, by role. Refused: an access-keys account has no template and nothing to verify (400).
            if refused and operation != ("POST", "/api/v1/onboarding/{id}/verify/"):
                return account(client_user, connection_method="access_keys", role_arn="", external_id=None)
            return account(client_user, status=AccountStatus.PENDING, role_arn="", environment_type=env)
        if case.path.startswith("/api/v1/accounts/"):
            return account(client_user, environment_type=env)
        if case.path.startswith("/api/v1/instances/"):
            # Lab controls apply to LAB accounts' instances; refused: a production one (400 not_lab).
            lab = EnvironmentType.PROD if refused and user.role != Role.LAB else EnvironmentType.LAB
            return make_instance(account(client_user, environment_type=lab))
        if operation == ("POST", "/api/v1/approvals/{id}/retry/"):
            # A failed execution (admins retry it); refused: one that did not fail (409).
            target = account(client_user, environment_type=env)
            return make_approval(account=target) if refused else failed_execution(target)
        if case.path.startswith("/api/v1/approvals/"):
            # Pending; refused: already decided (409).
            fields = {"status": ApprovalStatus.APPROVED, "decided_at": timezone.now()} if refused else {}
            return make_approval(account=account(client_user, environment_type=env), **fields)
        if case.path.startswith("/api/v1/team/members/"):
            # A colleague; refused: yourself (400).
            return client_user if refused else make_user(Role.USER, team=client_user.team)
        if case.path.startswith("/api/v1/team/invitations/"):
            invitation, _ = teams.team_invitation_create(
                user=client_user, email=f"invited{next(_serial)}@example.com", role=Role.USER
            )
            return invitation
        if case.path.startswith("/api/v1/risk/pools/"):
            # Global rows; refused: a pool that is not poisoned (409 on lift).
            return make_pool(next(_serial), poisoned=not refused)
        if case.path.startswith("/api/v1/risk/events/"):
            return make_event(account(client_user, environment_type=env), next(_serial))
        if case.path.startswith("/api/v1/risk/held/"):
            # Held; refused: already dismissed (409).
            held = make_held(account(client_user, environment_type=env), next(_serial))
            if refused:
                HeldRiskEvent.objects.filter(pk=held.pk).update(status=HeldEventStatus.DISMISSED)
            return held
        if case.path.startswith("/api/v1/risk/rejected/"):
            return make_rejected(account(client_user, environment_type=env), next(_serial))
        if case.path.startswith("/api/v1/sla/downtime/"):
            return make_downtime(account(client_user, environment_type=env), next(_serial))
        if case.path.startswith("/api/v1/experiments/"):
            return make_experiment(make_instance(account(client_user, environment_type=env)))
        if case.path.startswith("/api/v1/models/"):
            # Global rows; refused: an archived model (no move, no activation: 400 / 409).
            lab = make_user(Role.LAB)
            model = model_upload(
                user=lab, name=f"model-{next(_serial)}", version="1", feature_schema_version="1", data=risk_model()
            )
            return model_move(user=lab, model=model, status=ModelStatus.ARCHIVED) if refused else model
        if case.path.startswith("/api/v1/waste/"):
            return make_waste(account(client_user, environment_type=env), next(_serial))
        if case.path.startswith("/api/v1/clusters/"):
            # A registered cluster (its check answers "unreachable" at once); refused: an EKS one (no removal).
            cluster = make_cluster(account(client_user, environment_type=env), next(_serial))
            if refused:
                KubeCluster.objects.filter(pk=cluster.pk).update(source=ClusterSource.EKS)
            return cluster
        if case.path.startswith("/api/v1/savings/"):
            return make_day(account(client_user, environment_type=env), next(_serial))
        if case.path.startswith("/api/v1/node-drains/"):
            return make_drain(account(client_user, environment_type=env), next(_serial))
        raise AssertionError(f"No row for {case.path}: teach `prepare` about it")

    def fill_body(case, user, refused: bool):
        n = next(_serial)
        operation = (case.method.upper(), case.path)
        if operation == ("POST", "/api/v1/onboarding/{id}/verify/"):
            aws_account_id = f"{200000000000 + n}"
            if refused:  # the role's AWS account is another tenant's (409)
                make_account(other_client, account_id=aws_account_id)
            case.body["role_arn"] = f"arn:aws:iam::{aws_account_id}:role/SpotOptimizerCrossAccountRole"
        elif operation in (
            ("POST", "/api/v1/onboarding/connect/credentials/"),
            ("POST", "/api/v1/onboarding/{id}/credentials/"),
        ):
            aws_account_id = OTHER_CUSTOMER_ACCOUNT if refused else CUSTOMER_ACCOUNT
            if refused and not Account.objects.filter(account_id=aws_account_id).exists():
                make_account(other_client, account_id=aws_account_id)  # another tenant's (409)
            _, key_id, secret = create_user_with_keys(aws_account_id, f"schemathesis-{n}")
            case.body.update(access_key_id=key_id, secret_access_key=secret)
        elif operation == ("POST", "/api/v1/auth/token/") and not refused:
            case.body.update(username=user.username, password=TEST_PASSWORD)
        elif case.path in ("/api/v1/auth/token/refresh/", "/api/v1/auth/token/blacklist/") and not refused:
            case.body["refresh"] = str(RefreshToken.for_user(user))

    def prepare_case(case, user) -> str:
        variant = next(VARIANTS)
        refused = variant == "refused"
        if "account_id" in (case.path_parameters or {}):  # the event channels, by account
            env = EnvironmentType.LAB if user.role == Role.LAB else EnvironmentType.PROD
            target = uuid.uuid4() if variant == "unknown" else make_account(client_user, environment_type=env).pk
            case.path_parameters["account_id"] = str(target)
        if "id" in (case.path_parameters or {}):
            # A str: schemathesis validates the changed case again and refuses a UUID object.
            case.path_parameters["id"] = str(uuid.uuid4() if variant == "unknown" else row(case, user, refused).pk)
        if isinstance(case.body, dict):
            fill_body(case, user, refused)
        return variant

    return prepare_case


@schema.parametrize()
@hypothesis.settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_api(case, wsgi_app, signed_in, prepare):
    cache.clear()  # the onboarding throttle (30/minute) counts in the cache: every example starts afresh
    prepare(case, signed_in)
    token = RefreshToken.for_user(signed_in).access_token
    case.call_and_validate(app=wsgi_app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
