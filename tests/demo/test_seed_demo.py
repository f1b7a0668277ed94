"""`manage.py seed_demo` against a real moto server (threaded, on a free local port), in the demo's own
configuration (demo/demo.env): everything on spotopt's side is made by the product's services."""

import io
import json
import re
import socket
import urllib.request
from decimal import Decimal

import boto3
import pytest
from django.conf import settings as aws_settings
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q, Sum
from django.test import RequestFactory
from moto.server import ThreadedMotoServer

from accounts.choices import AccountStatus, EnvironmentType, InvitationStatus, Role
from accounts.models import Account, TeamInvitation, User
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.models import ApprovalRequest
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType, SwitchStatus
from fleet.models import Instance, Switch
from mlgov.models import MLModel
from risk.models import GlobalRiskEvent, SpotPoolRisk
from sla.models import DowntimeLog
from spotopt import aws
from tests.demo.config import demo_settings
from waste.choices import WasteStatus
from waste.models import WasteResource

pytestmark = pytest.mark.django_db

PROD_ID, LAB_ID = "111122223333", "444455556666"
PASSWORD_LINE = re.compile(r"^  (demo-\S+)\s.*password: (\S+)$", re.M)
DEMO_USERNAMES = {"demo-superadmin", "demo-admin", "demo-client", "demo-user", "demo-lab"}


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
def demo_aws(moto_url, settings, tmp_path):
    demo_settings(settings)
    settings.AWS_ENDPOINT_URL = moto_url
    settings.VAR_DIR = tmp_path
    settings.SITE_URL = "http://127.0.0.1:8123"
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
        "approvals": ApprovalRequest.objects.count(),
        "invitations": TeamInvitation.objects.count(),
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


def closing_block(out: str) -> str:
    """The sign-in summary: the last thing the command prints."""
    return out.rstrip().rsplit("=" * 72, 2)[-2]


def test_seed_demo_builds_a_believable_estate_and_a_rerun_duplicates_nothing(demo_aws):
    out = seed()

    # Accounts: both active, in the Acme team, connected by the demo client with a server-generated External ID.
    client = User.objects.get(username="demo-client")
    prod, lab = Account.objects.get(account_id=PROD_ID), Account.objects.get(account_id=LAB_ID)
    assert (prod.account_name, prod.environment_type) == ("Acme Production", EnvironmentType.PROD)
    assert (lab.account_name, lab.environment_type) == ("Acme Lab", EnvironmentType.LAB)
    for account in (prod, lab):
        assert account.status == AccountStatus.ACTIVE
        assert account.user == client and account.team == client.team
        assert account.role_arn == f"arn:aws:iam::{account.account_id}:role/SpotOptimizerCrossAccountRole"
        assert re.fullmatch(r"spot-optimizer-[0-9a-f-]{36}", account.external_id)
        # Connected through the onboarding flow: verified role, then a discovery of every region.
        discovery = account.account_metadata["discovery"]
        assert discovery["state"] == "succeeded"
        assert discovery["regions_done"] == discovery["regions_total"] == len(account.regions)
        assert "last_error" not in account.account_metadata
    assert f"verified the role arn:aws:iam::{PROD_ID}:role/SpotOptimizerCrossAccountRole: connected" in out
    assert prod.regions == ["us-east-1", "us-west-2"] and lab.regions == ["us-east-1"]

    # The Acme team: the read-only user came in through an invitation; another invitation is open.
    assert client.team.name == "Acme"
    reader = User.objects.get(username="demo-user")
    assert (reader.team, reader.role) == (client.team, Role.USER)
    assert TeamInvitation.objects.get(email=reader.email).status == InvitationStatus.ACCEPTED
    assert TeamInvitation.objects.filter(team=client.team, status=InvitationStatus.PENDING).count() == 1
    assert set(Account.objects.for_user(reader)) == {prod, lab}

    # The approval queue, filed through the approval service, for the actions that have a workflow.
    pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING)
    assert {r.action_type for r in pending} == {
        ActionType.TERMINATE_ROGUE,
        ActionType.SWITCH_INSTANCE,
        ActionType.DELETE_WASTE,  # the waste seed's, below
    }
    rogue_request = pending.get(action_type=ActionType.TERMINATE_ROGUE)
    assert rogue_request.instance.auth_status == AuthStatus.FLAGGED and rogue_request.requester is None
    # The two the demo files by hand, and the optimizer's PROD switches (MEDIUM), which wait for an approver.
    switches = pending.filter(action_type=ActionType.SWITCH_INSTANCE)
    assert set(switches.values_list("risk_level", flat=True)) == {RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.CRITICAL}
    assert switches.filter(risk_level=RiskLevel.MEDIUM, account=prod, requester=None).count() == (
        Switch.objects.filter(account=prod, status=SwitchStatus.AWAITING_APPROVAL).count()
    )
    assert f"Approvals: {pending.count()} pending (3 filed by this run)" in out

    # Instances: both orchestrators, both lifecycles, two regions; exactly one rogue, in PROD; all priced.
    live = Instance.objects.filter(is_active=True)
    assert {i.orchestrator_type for i in live} == {OrchestratorType.KUBERNETES, OrchestratorType.STANDALONE}
    assert {i.lifecycle for i in live} == {Lifecycle.SPOT, Lifecycle.ON_DEMAND}
    assert {i.region for i in live} == {"us-east-1", "us-west-2"}
    assert len({i.instance_type for i in live}) >= 4
    assert {i.account_id for i in live} == {prod.pk, lab.pk}
    assert not live.filter(hourly_price=None).exists()
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

    # The shipped baseline model went through governance: the production model, every move recorded.
    model = MLModel.objects.get(name="baseline-v1")
    assert model.is_active_prod and model.status == "ENABLED"
    assert [m.by_username for m in model.moves.order_by("at")] == [
        "demo-lab",
        "demo-lab",
        "demo-lab",
        "demo-superadmin",
        "demo-superadmin",
    ]

    # One optimizer cycle over a synthetic week of Spot prices: every instance it evaluated has a logged
    # decision with a reason, some are switches; the Lab's ran in the emulator, PROD's wait for approval.
    from fleet.models import SpotPriceStep
    from mlgov.models import ExperimentLog

    logs = ExperimentLog.objects.all()
    replacements = Switch.objects.exclude(replacement=None).values_list("replacement", flat=True)
    switched = Switch.objects.filter(status=SwitchStatus.SUCCEEDED).values_list("instance", flat=True)
    evaluated = set(logs.values_list("instance", flat=True))
    expected = set(
        Instance.objects.filter(Q(is_active=True) | Q(pk__in=switched), is_replica=False)
        .exclude(pk__in=replacements)
        .values_list("pk", flat=True)
    )
    assert expected <= evaluated
    # The Lab's later cycles ("a month ago", a day apart) also evaluated what its earlier ones launched.
    assert evaluated - expected <= set(Switch.objects.filter(account=lab).values_list("replacement", flat=True))
    assert all(log.decision_reason or log.error_message for log in logs)
    assert logs.filter(decision="SWITCH").exists()
    executed = Switch.objects.filter(account=lab, status=SwitchStatus.SUCCEEDED)
    assert executed.exists(), list(Switch.objects.values_list("status", "error_message"))
    assert all(s.replacement.is_active and not s.instance.is_active for s in executed)
    assert not Switch.objects.filter(status__in=[SwitchStatus.FAILED, SwitchStatus.ROLLED_BACK]).exists()
    assert not logs.filter(decision="FAILED").exists()  # the Lab's instances have their model under test
    assert set(logs.filter(instance__account=lab).values_list("model__name", flat=True)) == {"baseline-v1-lab"}
    assert set(SpotPriceStep.objects.values_list("source", flat=True)) == {"synthetic"}
    assert "Optimizer: one cycle over the fleet" in out and "switch succeeded" in out

    # Waste: what the scanner found in moto (the estate's idle resources, by their Name tags), one flagged
    # and tagged in AWS, one scheduled with its deletion request pending.
    idle = WasteResource.objects.filter(deletable=True)
    assert set(idle.values_list("resource_metadata__name", flat=True)) == {
        "eip-old-bastion",
        "eip-old-nat",
        "vol-old-db-data",
        "vol-detached-logs",
        "snap-2025-db-backup",
        "ami-legacy-api",
        "vol-old-scratch",
        "snap-2026-etl-checkpoint",
        "eip-lab-demo",
        "vol-lab-dataset",
        "ami-lab-experiment-base",
    }
    flagged = idle.get(resource_metadata__name="eip-old-nat")
    assert flagged.status == WasteStatus.FLAGGED
    ec2 = as_customer(aws_settings.AWS_ENDPOINT_URL, prod, "ec2")
    (address,) = ec2.describe_addresses(AllocationIds=[flagged.resource_id])["Addresses"]
    assert {"Key": "spotopt:waste", "Value": f"delete@{flagged.scheduled_deletion_date:%Y-%m-%d}"} in address["Tags"]
    scheduled = idle.get(resource_metadata__name="vol-old-db-data")
    assert scheduled.status == WasteStatus.SCHEDULED_DELETE
    assert scheduled.approval_request.status == ApprovalStatus.PENDING
    assert scheduled.approval_request.action_payload["resources"][0]["resource_id"] == scheduled.resource_id

    # Interruption events went through EventBridge, the queues and the listener's code: two rebalance
    # recommendations, four production warnings (two of them on Kubernetes nodes) and a LAB one; the safety
    # net acted on each. Here no kube-apiserver runs (VAR_DIR has no access.json): the cluster is not
    # registered and the nodes' warnings say what is missing (the drains: tests/kube/test_demo_cluster.py).
    events = GlobalRiskEvent.objects.all()
    assert sorted(events.values_list("event_type", flat=True)) == ["rebalance_notice"] * 2 + ["termination_notice"] * 5
    assert "Kubernetes: no local kube-apiserver (build it once with `make kube-apiserver`" in out
    assert out.count("cluster_unknown: The cluster acme-prod-eks") == 2
    assert set(events.values_list("channel", flat=True)) == {"sqs"}
    assert events.get(account=lab).outcome == "lab_only"
    assert SpotPoolRisk.objects.filter(is_poisoned=True).count() >= 2
    assert "replica_promoted" in out and "emergency_replacement" in out
    (downtime,) = DowntimeLog.objects.all()
    assert downtime.cause == "no_replica" and downtime.account == prod
    assert downtime.ended_at is not None and 0 <= downtime.duration_seconds < 60
    assert "Interruption events:" in out and "downtime stretch(es) (SLA page)" in out
    # The production account's savings preview, for its page.
    preview = Account.objects.get(pk=prod.pk).account_metadata["savings_preview"]
    assert preview["instances"] > 0 and preview["moves"] and preview["left_alone"]
    assert f"Savings preview: ${preview['monthly_saving']} a month on Acme Production" in out
    # The Lab's executed switches are in the savings ledger from their launch.
    from savings.models import SavingsDay

    assert SavingsDay.objects.filter(account=lab, kind="switch").exists()
    assert "Savings ledger:" in out
    # They ran "a month ago" (the Lab's cycles on a clock set back): a month of savings, on the overview too.
    from accounts.overview import overview_for

    month = SavingsDay.objects.filter(account=lab).aggregate(
        days=Count("day", distinct=True), realized=Sum(F("baseline_cost") - F("actual_cost") - F("overlap_cost"))
    )
    assert month["days"] == 31 and month["realized"] > 0
    overview = overview_for(User.objects.get(username="demo-client"))
    this_month = SavingsDay.objects.filter(day__gte=overview["month"]).aggregate(
        realized=Sum(F("baseline_cost") - F("actual_cost") - F("overlap_cost"))
    )["realized"]
    assert overview["realized"] == this_month.quantize(Decimal("0.01"))

    # One user per role; the passwords in the closing summary work, and it says where to sign in.
    assert sorted(User.objects.filter(username__startswith="demo-").values_list("role", flat=True)) == sorted(
        Role.values
    )
    assert User.objects.get(username="demo-superadmin").is_superuser
    summary = closing_block(out)
    assert "Sign in at http://127.0.0.1:8123/login/" in summary
    passwords = dict(PASSWORD_LINE.findall(summary))
    assert set(passwords) == DEMO_USERNAMES
    for username, password in passwords.items():
        assert authenticate(_login_request(), username=username, password=password) is not None, username
    assert "Acme Production (111122223333, PROD, active)" in out and "1 rogue" in out

    # What the customer sees in AWS (acting in 111122223333): the ASGs, the one untagged instance, and the
    # role trusting the platform's own role with the account's External ID.
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
    role = as_customer(demo_aws, prod, "iam").get_role(RoleName="SpotOptimizerCrossAccountRole")["Role"]
    trust = json.dumps(role["AssumeRolePolicyDocument"])
    assert prod.external_id in trust
    assert "arn:aws:iam::123456789012:role/SpotOptimizerPlatform" in trust

    # A second run: nothing new anywhere, users keep their passwords.
    before = counts()
    asgs_before = len(names)
    out_again = seed()
    assert counts() == before
    assert closing_block(out_again).count("password unchanged") == 5
    assert "seed_demo --reset-passwords" in closing_block(out_again)
    assert not PASSWORD_LINE.findall(out_again)
    assert "created nothing (already present)" in out_again
    assert f"Approvals: {pending.count()} pending (0 filed by this run)" in out_again
    assert "interruption events: already seeded" in out_again and GlobalRiskEvent.objects.count() == 7
    assert len(autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]) == asgs_before
    for username, password in passwords.items():
        assert authenticate(_login_request(), username=username, password=password) is not None


def test_the_readmes_reset_command_needs_only_the_database_and_says_where_to_sign_in(demo_aws, settings, tmp_path):
    seed()
    # As the README gives it: a plain shell, none of the demo's variables (no endpoint, another SITE_URL).
    settings.AWS_ENDPOINT_URL = None
    settings.PLATFORM_AWS_PRINCIPAL_ARN = ""
    settings.SITE_URL = "http://127.0.0.1:8000"
    summary_file = tmp_path / "summary.txt"

    out = seed("--reset-passwords", "--summary-file", str(summary_file))

    assert "Sign in at http://127.0.0.1:8123/login/" in out  # the demo's own port, not the default
    passwords = dict(PASSWORD_LINE.findall(out))
    assert set(passwords) == DEMO_USERNAMES
    for username, password in passwords.items():
        assert authenticate(_login_request(), username=username, password=password) is not None
    written = summary_file.read_text().strip()
    assert written and written in out and passwords["demo-client"] in written
    assert summary_file.stat().st_mode & 0o077 == 0  # it holds passwords: the owner's only


def _estate_instances():
    """The demo estate's own instances: not the replicas and replacements the safety net and the optimizer
    launched, and counting the members they swapped out (terminated)."""
    swapped = Q(instance_metadata__interruption__action="asg_replaced")
    switched = Q(pk__in=Switch.objects.filter(status=SwitchStatus.SUCCEEDED).values("instance"))
    return Instance.objects.filter(Q(is_active=True) | swapped | switched).exclude(
        instance_metadata__tags__has_key="spotopt:purpose"
    )


def test_seed_demo_rebuilds_aws_after_a_moto_restart(demo_aws):
    urllib.request.urlopen(urllib.request.Request(f"{demo_aws}/moto-api/reset", method="POST"))  # a clean moto
    aws.forget_cached_credentials()
    seed()
    estate = _estate_instances().count()
    old_ids = set(Instance.objects.values_list("instance_id", flat=True))
    accounts = {a.account_id: (a.pk, a.external_id) for a in Account.objects.all()}

    # moto keeps everything in memory: a restart loses the estate while the database keeps its rows.
    urllib.request.urlopen(urllib.request.Request(f"{demo_aws}/moto-api/reset", method="POST"))
    aws.forget_cached_credentials()
    seed()

    assert {a.account_id: (a.pk, a.external_id) for a in Account.objects.all()} == accounts
    rebuilt = Instance.objects.filter(is_active=True).exclude(instance_metadata__tags__has_key="spotopt:purpose")
    assert rebuilt.count() == estate  # the events are not put again: nothing was swapped out this time
    assert not Instance.objects.filter(is_active=True, instance_id__in=old_ids).exists()
    assert Instance.objects.filter(is_active=False).count() == len(old_ids)
    assert Instance.objects.filter(is_active=True, auth_status=AuthStatus.FLAGGED).count() == 1


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


def test_seed_demo_needs_the_demos_platform_role(settings, moto_url):
    settings.AWS_ENDPOINT_URL = moto_url
    settings.PLATFORM_AWS_PRINCIPAL_ARN = ""
    with pytest.raises(CommandError, match="PLATFORM_AWS_PRINCIPAL_ARN is not set"):
        seed()
    assert not User.objects.exists()


def test_seed_demo_writes_nothing_when_the_emulator_does_not_answer(settings):
    demo_settings(settings)
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{_free_port()}"
    settings.AWS_MAX_ATTEMPTS = 1
    aws.forget_cached_credentials()
    with pytest.raises(CommandError, match="Is moto_server running at"):
        seed()
    assert not User.objects.exists()


def test_demo_interruption_plays_aws_and_the_listener_reads_it(demo_aws):
    from risk.listener import Listener

    urllib.request.urlopen(urllib.request.Request(f"{demo_aws}/moto-api/reset", method="POST"))
    aws.forget_cached_credentials()
    seed()
    seeded = GlobalRiskEvent.objects.values("instance_id")
    target = (
        Instance.objects.filter(account__account_id=PROD_ID, is_active=True, cluster_membership__asg_name="web-asg")
        .exclude(instance_id__in=seeded)
        .first()
    )
    out = io.StringIO()
    call_command("demo_interruption", "--instance", target.instance_id, stdout=out)
    assert f"Spot interruption warning for {target.instance_id}" in out.getvalue()
    Listener(wait_seconds=0, threads=1, react=False).run_once()  # the reaction has its own tests
    event = GlobalRiskEvent.objects.get(instance_id=target.instance_id)
    assert event.channel == "sqs" and event.outcome in ("poisoned", "extended")
    with pytest.raises(CommandError, match="No active discovered instance"):
        call_command("demo_interruption", "--instance", "i-00000000000000000")
