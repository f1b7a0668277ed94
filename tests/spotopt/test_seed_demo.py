"""`manage.py seed_demo` against a real moto server (threaded, on a free local port)."""

import io
import json
import re
import socket
import urllib.request
from decimal import Decimal

import boto3
import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from moto.server import ThreadedMotoServer

from accounts.choices import AccountStatus, EnvironmentType, Role
from accounts.models import Account, User
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.models import ApprovalRequest
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType
from fleet.models import Instance
from risk.models import GlobalRiskEvent, SpotPoolRisk
from sla.models import DowntimeLog
from spotopt import aws
from waste.choices import ResourceType
from waste.models import WasteResource

pytestmark = pytest.mark.django_db

PROD_ID, LAB_ID = "111122223333", "444455556666"
PASSWORD_LINE = re.compile(r"^\s+(demo-\S+)\s+\S+\s+(?:created|password reset), password: (\S+)$", re.M)


def _login_request():
    # The django-axes backend needs the request it throttles.
    return RequestFactory().post("/login/")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    aws.forget_cached_credentials()


@pytest.fixture
def demo_aws(moto_url, settings):
    settings.AWS_ENDPOINT_URL = moto_url
    # Cached assumed-role credentials belong to one moto server (and one moto state).
    aws.forget_cached_credentials()
    yield moto_url
    aws.forget_cached_credentials()


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict:
    return {
        "accounts": Account.objects.count(),
        "users": User.objects.count(),
        "instances": Instance.objects.count(),
        "active_instances": Instance.objects.filter(is_active=True).count(),
        "waste": WasteResource.objects.count(),
        "pools": SpotPoolRisk.objects.count(),
        "approvals": ApprovalRequest.objects.count(),
        "events": GlobalRiskEvent.objects.count(),
        "downtime": DowntimeLog.objects.count(),
    }


def as_customer(moto_url: str, account: Account, service: str, region: str = "us-east-1"):
    """A plain boto3 client acting in the customer's account, the way a customer would look."""
    creds = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1").assume_role(
        RoleArn=account.role_arn, RoleSessionName="test-customer", ExternalId=account.external_id
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_seed_demo_builds_a_believable_estate_and_a_rerun_duplicates_nothing(demo_aws):
    out = seed()

    # Accounts: both active, owned by the demo client, with a server-generated External ID.
    client = User.objects.get(username="demo-client")
    prod, lab = Account.objects.get(account_id=PROD_ID), Account.objects.get(account_id=LAB_ID)
    assert (prod.account_name, prod.environment_type) == ("Acme Production", EnvironmentType.PROD)
    assert (lab.account_name, lab.environment_type) == ("Acme Lab", EnvironmentType.LAB)
    for account in (prod, lab):
        assert account.status == AccountStatus.ACTIVE
        assert account.user == client
        assert account.role_arn == f"arn:aws:iam::{account.account_id}:role/SpotOptimizerCrossAccountRole"
        assert re.fullmatch(r"spot-optimizer-[0-9a-f-]{36}", account.external_id)
        # Connected through the onboarding flow: verified role, then a discovery of every region.
        discovery = account.account_metadata["discovery"]
        assert discovery["state"] == "succeeded"
        assert discovery["regions_done"] == discovery["regions_total"] == len(account.regions)
        assert "last_error" not in account.account_metadata
    assert f"verified the role arn:aws:iam::{PROD_ID}:role/SpotOptimizerCrossAccountRole: connected" in out

    # The approval queue: a pending request of each action type, filed through the approval service.
    pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING)
    assert {r.action_type for r in pending} == set(ActionType.values)
    rogue_request = pending.get(action_type=ActionType.TERMINATE_ROGUE)
    assert rogue_request.instance.auth_status == AuthStatus.FLAGGED and rogue_request.requester is None
    assert pending.get(action_type=ActionType.DELETE_WASTE).risk_level == RiskLevel.MEDIUM
    assert set(pending.filter(action_type=ActionType.SWITCH_INSTANCE).values_list("risk_level", flat=True)) == {
        RiskLevel.LOW,
        RiskLevel.CRITICAL,
    }
    assert "Approvals: 4 pending (4 filed by this run)" in out
    assert prod.regions == ["us-east-1", "us-west-2"] and lab.regions == ["us-east-1"]

    # Instances: both orchestrators, both lifecycles, two regions; exactly one rogue, in PROD.
    live = Instance.objects.filter(is_active=True)
    assert {i.orchestrator_type for i in live} == {OrchestratorType.KUBERNETES, OrchestratorType.STANDALONE}
    assert {i.lifecycle for i in live} == {Lifecycle.SPOT, Lifecycle.ON_DEMAND}
    assert {i.region for i in live} == {"us-east-1", "us-west-2"}
    assert len({i.instance_type for i in live}) >= 4
    assert {i.account_id for i in live} == {prod.pk, lab.pk}
    rogue = Instance.objects.get(auth_status=AuthStatus.FLAGGED)
    assert rogue.account == prod and rogue.flagged_at is not None
    assert rogue.instance_metadata["tags"] == {}
    assert live.exclude(pk=rogue.pk).filter(auth_status=AuthStatus.AUTHORIZED).count() == live.count() - 1
    asg_node = live.filter(cluster_membership__asg_name="eks-general-nodes-asg").first()
    assert asg_node.cluster_membership == {
        "cluster_name": "acme-prod-eks",
        "node_group": "general",
        "asg_name": "eks-general-nodes-asg",
    }
    assert asg_node.instance_metadata["private_ip"] and asg_node.instance_metadata["launch_time"]
    assert live.filter(cluster_membership__nodepool="default", lifecycle=Lifecycle.SPOT).count() == 1

    # Waste: all four kinds, priced in Decimal.
    waste = list(WasteResource.objects.all())
    assert {w.resource_type for w in waste} == set(ResourceType.values)
    for w in waste:
        assert isinstance(w.monthly_cost, Decimal) and w.monthly_cost > 0
        assert w.reason and w.days_unused > 0
    eip = next(w for w in waste if w.resource_type == ResourceType.ELASTIC_IP)
    assert eip.monthly_cost == Decimal("3.60")

    # Risk memory and downtime history.
    poisoned = SpotPoolRisk.objects.get(is_poisoned=True)
    event = GlobalRiskEvent.objects.get(pool_id=poisoned.pool_id, event_type="termination_notice")
    assert poisoned.poisoned_at == event.reported_at
    assert (poisoned.poison_expires_at - poisoned.poisoned_at).days == 15
    assert DowntimeLog.objects.filter(cause="emergency_switch", account=prod).exists()

    # One user per role; the printed passwords work.
    assert sorted(User.objects.filter(username__startswith="demo-").values_list("role", flat=True)) == sorted(
        Role.values
    )
    assert User.objects.get(username="demo-superadmin").is_superuser
    passwords = dict(PASSWORD_LINE.findall(out))
    assert set(passwords) == {"demo-superadmin", "demo-admin", "demo-client", "demo-user", "demo-lab"}
    for username, password in passwords.items():
        assert authenticate(_login_request(), username=username, password=password) is not None, username
    assert not Account.objects.filter(user__username="demo-user").exists()

    # The summary names the login URL and the endpoint.
    assert "/admin/" in out and demo_aws in out
    assert "Acme Production (111122223333, PROD, active)" in out and "1 rogue" in out

    # What the customer sees in AWS (acting in 111122223333): the ASGs and the one untagged instance.
    autoscaling = as_customer(demo_aws, prod, "autoscaling")
    names = {g["AutoScalingGroupName"] for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]}
    assert {"web-asg", "worker-asg", "eks-general-nodes-asg"} <= names
    ec2 = as_customer(demo_aws, prod, "ec2")
    untagged = [
        i["InstanceId"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if not i.get("Tags") and i["State"]["Name"] == "running"
    ]
    assert untagged == [rogue.instance_id]
    trust = as_customer(demo_aws, prod, "iam").get_role(RoleName="SpotOptimizerCrossAccountRole")["Role"]
    assert prod.external_id in json.dumps(trust["AssumeRolePolicyDocument"])

    # A second run: nothing new anywhere, users keep their passwords.
    before = counts()
    asgs_before = len(names)
    out_again = seed()
    assert counts() == before
    assert out_again.count("already exists, password unchanged") == 5
    assert not PASSWORD_LINE.findall(out_again)
    assert "created nothing (already present)" in out_again
    assert "Approvals: 4 pending (0 filed by this run)" in out_again
    assert len(autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]) == asgs_before
    for username, password in passwords.items():
        assert authenticate(_login_request(), username=username, password=password) is not None


def test_seed_demo_rebuilds_aws_after_a_moto_restart_and_resets_passwords(demo_aws):
    seed()
    before = counts()
    old_ids = set(Instance.objects.values_list("instance_id", flat=True))
    accounts = {a.account_id: (a.pk, a.external_id) for a in Account.objects.all()}

    # moto keeps everything in memory: a restart loses the estate while the database keeps its rows.
    urllib.request.urlopen(urllib.request.Request(f"{demo_aws}/moto-api/reset", method="POST"))
    aws.forget_cached_credentials()
    out = seed("--reset-passwords")

    assert {a.account_id: (a.pk, a.external_id) for a in Account.objects.all()} == accounts
    assert Instance.objects.filter(is_active=True).count() == before["active_instances"]
    assert not Instance.objects.filter(is_active=True, instance_id__in=old_ids).exists()
    assert Instance.objects.filter(is_active=False).count() == len(old_ids)
    assert Instance.objects.filter(is_active=True, auth_status=AuthStatus.FLAGGED).count() == 1
    assert WasteResource.objects.count() == before["waste"]
    assert (SpotPoolRisk.objects.count(), GlobalRiskEvent.objects.count()) == (before["pools"], before["events"])
    assert DowntimeLog.objects.count() == before["downtime"]

    passwords = dict(PASSWORD_LINE.findall(out))
    assert len(passwords) == 5 and "password reset" in out
    for username, password in passwords.items():
        assert authenticate(_login_request(), username=username, password=password) is not None


def test_seed_demo_refuses_without_an_aws_endpoint(settings):
    settings.AWS_ENDPOINT_URL = None
    with pytest.raises(CommandError, match="AWS_ENDPOINT_URL is not set"):
        seed()
    assert not User.objects.exists()
    assert not Account.objects.exists()


def test_seed_demo_refuses_a_real_aws_endpoint(settings):
    settings.AWS_ENDPOINT_URL = "https://ec2.us-east-1.amazonaws.com"
    with pytest.raises(CommandError, match="real AWS"):
        seed()
    assert not User.objects.exists()


def test_seed_demo_writes_nothing_when_the_emulator_does_not_answer(settings):
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{_free_port()}"
    settings.AWS_MAX_ATTEMPTS = 1
    aws.forget_cached_credentials()
    with pytest.raises(CommandError, match="Is moto_server running there"):
        seed()
    assert not User.objects.exists()
