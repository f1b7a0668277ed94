"""Shared fixtures: people of every role, accounts, instances and the other seed rows.

`make_*` fixtures are factories (call them with overrides). The suite runs on SQLite by default and on
PostgreSQL when DATABASE_URL points there (CI does); tests marked `postgres` need PostgreSQL.
"""

import hashlib
import itertools
import os
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
from accounts.models import Account, Team, User
from tests.helpers import FROZEN_NOW

_seq = itertools.count(1)

# Keep moto and boto3 away from any real AWS credentials or endpoints on the machine.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", "/tmp/spotopt-hypothesis")  # not ./.hypothesis in the repo

TEST_PASSWORD = "correct-horse-battery-9"


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)


class FrozenClock:
    """Stands in for django.utils.timezone.now: returns `now` until a test moves it (see `clock`)."""

    def __init__(self, start):
        self.start = start
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        """Move on by a timedelta's keywords and answer the new time: clock.advance(hours=1, minutes=30)."""
        self.now += timedelta(**delta)
        return self.now

    def at(self, **since_start):
        """Move to that long after the start (earlier moves do not count): clock.at(hours=24)."""
        self.now = self.start + timedelta(**since_start)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded files (models) go to the test's own folder, never into the repository's var/."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True, scope="session")
def _no_aws_error_counts_at_exit():
    """What the session counted outside a test is not written at exit (when pytest-django has already given
    the connection back its real database's name)."""
    yield
    from ops import aws_errors

    aws_errors._pending.clear()


@pytest.fixture(autouse=True)
def _aws_error_counts(monkeypatch):
    """Each test counts its own failed AWS calls (ops.aws_errors keeps them in memory until a flush, which a
    test client's request would otherwise do inside another test's query count)."""
    from collections import Counter

    from ops import aws_errors

    monkeypatch.setattr(aws_errors, "_pending", Counter())


@pytest.fixture
def clock(monkeypatch):
    """Frozen time for one test: django.utils.timezone.now answers `clock.now`, which starts at FROZEN_NOW
    (tests/helpers.py: 2026-11-02 09:30, an aware UTC datetime) and changes only when the test moves it.

    It replaces the `now` attribute of the django.utils.timezone module, so everything that calls
    `timezone.now()` through `from django.utils import timezone` sees it: the services, and Django's own
    auto_now / auto_now_add timestamps (created_at, updated_at). Code that passes `now=` explicitly is not
    affected. Move it with `clock.now = FROZEN_NOW + timedelta(...)`, `clock.now += ...`,
    `clock.advance(hours=...)` or `clock.at(hours=...)` (that long after `clock.start`, i.e. FROZEN_NOW).
    """
    frozen = FrozenClock(FROZEN_NOW)
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@pytest.fixture
def make_user(db):
    def make(role=Role.CLIENT, **overrides):
        n = next(_seq)
        fields = {"username": f"{role}{n}", "email": f"{role}{n}@example.com", "full_name": f"{role} {n}"}
        fields.update(overrides)
        password = fields.pop("password", TEST_PASSWORD)
        if role == Role.SUPER_ADMIN:
            return User.objects.create_superuser(password=password, **fields)
        return User.objects.create_user(password=password, role=role, **fields)

    return make


def _person_of(role, name):
    """A fixture `name`: one person of `role`, made by make_user."""

    @pytest.fixture(name=name)
    def person(make_user):
        return make_user(role)

    return person


super_admin = _person_of(Role.SUPER_ADMIN, "super_admin")
admin_user = _person_of(Role.ADMIN, "admin_user")
client_user = _person_of(Role.CLIENT, "client_user")
other_client = _person_of(Role.CLIENT, "other_client")  # a client of another team
readonly_user = _person_of(Role.USER, "readonly_user")
lab_user = _person_of(Role.LAB, "lab_user")


@dataclass
class TeamCast:
    """One customer: two clients (the first connected the account), a read-only colleague, an account."""

    team: Team
    client: User
    colleague: User
    viewer: User
    account: Account


@pytest.fixture
def make_team(make_user, make_account):
    """make_team("Acme"): a team of that name with its TeamCast (the account is "<name> production")."""

    def make(name):
        client = make_user(Role.CLIENT, full_name=f"{name} Client")
        team = client.team
        team.name = name
        team.save()
        colleague = make_user(Role.CLIENT, team=team, full_name=f"{name} Colleague")
        viewer = make_user(Role.USER, team=team, full_name=f"{name} Viewer")
        account = make_account(client, account_name=f"{name} production")
        return TeamCast(team=team, client=client, colleague=colleague, viewer=viewer, account=account)

    return make


@pytest.fixture
def make_account(db):
    def make(user, **overrides):
        n = next(_seq)
        fields = {
            "account_id": f"{100000000000 + n}",
            "account_name": f"Account {n}",
            "environment_type": EnvironmentType.PROD,
            "connection_method": ConnectionMethod.IAM_ROLE,
            "role_arn": f"arn:aws:iam::{100000000000 + n}:role/SpotOptimizerRole",
            "external_id": f"spot-optimizer-test-{n}",
            "status": AccountStatus.ACTIVE,
        }
        fields.update(overrides)
        return Account.objects.create(user=user, **fields)

    return make


@pytest.fixture
def make_instance(db):
    from fleet.inventory import search_text
    from fleet.models import Instance
    from fleet.pricing import instance_hourly

    def make(account, **overrides):
        n = next(_seq)
        fields = {
            "instance_id": f"i-{n:017x}",
            "instance_type": "m5.large",
            "availability_zone": "us-east-1a",
            "region": "us-east-1",
        }
        fields.update(overrides)
        if "hourly_price" not in fields:  # priced as discovery prices it
            fields["hourly_price"], fields["price_source"] = instance_hourly(
                lifecycle=fields.get("lifecycle", "on-demand"),
                instance_type=fields["instance_type"],
                region=fields["region"],
                spot_price=(fields.get("instance_metadata") or {}).get("spot_price", ""),
            )
        fields.setdefault(  # searchable as discovery makes it
            "search_text",
            search_text(
                fields["instance_id"],
                fields["instance_type"],
                fields.get("instance_metadata"),
                fields.get("cluster_membership"),
            ),
        )
        return Instance.objects.create(account=account, **fields)

    return make


@pytest.fixture
def make_ml_model(db):
    from mlgov.models import MLModel

    def make(**overrides):
        n = next(_seq)
        content = overrides.pop("content", f"model-{n}".encode())
        model = MLModel(
            name=overrides.pop("name", f"risk-model-{n}"),
            version=overrides.pop("version", f"1.{n}"),
            feature_schema_version=overrides.pop("feature_schema_version", "1"),
            file_hash=hashlib.sha256(content).hexdigest(),
            **overrides,
        )
        model.file.save(f"risk-model-{n}.onnx", ContentFile(content), save=False)
        model.save()
        return model

    return make


@pytest.fixture
def make_experiment(db):
    from mlgov.models import ExperimentLog

    def make(instance, **overrides):
        fields = {
            "pipeline_mode": "CLUSTER",
            "decision": "HOLD",
            "execution_time": timezone.now(),
            "prediction_score": 0.2,
            "old_spot_price": Decimal("0.0400"),
            "new_spot_price": Decimal("0.0300"),
        }
        fields.update(overrides)
        return ExperimentLog.objects.create(instance=instance, **fields)

    return make


@pytest.fixture
def make_approval(db):
    from approvals.models import ApprovalRequest

    def make(**overrides):
        fields = {
            "action_type": "TERMINATE_ROGUE",
            "risk_level": "MEDIUM",
            "expires_at": timezone.now() + timedelta(days=1),
        }
        fields.update(overrides)
        return ApprovalRequest.objects.create(**fields)

    return make


@pytest.fixture
def on_postgresql():
    return connection.vendor == "postgresql"
