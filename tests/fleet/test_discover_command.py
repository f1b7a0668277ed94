"""`manage.py discover [--account ID]`, the periodic discovery job (fleet.tasks.discover_all_accounts) and
its schedule. AWS is moto in-process; django-q2 runs tasks inline (sync) in the test settings."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule, Task

from accounts.choices import AccountStatus
from fleet import tasks as fleet_tasks
from fleet.models import Instance
from tests.aws_fixtures import CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT, launch_instances, moto  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


def role_account(make_account, user, aws_account_id, **overrides):
    fields = {
        "account_id": aws_account_id,
        "role_arn": f"arn:aws:iam::{aws_account_id}:role/SpotOptimizerCrossAccountRole",
        "status": AccountStatus.CONNECTED,
        "region": "us-east-1",
        "regions": ["us-east-1", "eu-west-1"],
    }
    fields.update(overrides)
    return make_account(user, **fields)


@pytest.fixture
def first(make_account, client_user):
    return role_account(make_account, client_user, CUSTOMER_ACCOUNT, account_name="Alpha prod")


@pytest.fixture
def second(make_account, other_client):
    return role_account(
        make_account, other_client, OTHER_CUSTOMER_ACCOUNT, account_name="Beta", status=AccountStatus.ACTIVE
    )


def discover(*args) -> str:
    out = io.StringIO()
    call_command("discover", *args, stdout=out)
    return out.getvalue()


def test_one_account_by_aws_account_id_prints_progress_per_region_and_the_totals(first, second):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    launch_instances(CUSTOMER_ACCOUNT, "eu-west-1", 1)
    launch_instances(OTHER_CUSTOMER_ACCOUNT, "us-east-1", 4)

    output = discover("--account", CUSTOMER_ACCOUNT)

    assert output.splitlines() == [
        f"Alpha prod ({CUSTOMER_ACCOUNT}): 2 region(s)",
        "  us-east-1: 2 instances",
        "  eu-west-1: 1 instances",
        "  3 instances; 3 new, 0 changed, 0 gone; 3 flagged, 0 re-authorized, 0 termination request(s) filed; "
        "account active",
    ]
    assert Instance.objects.filter(account=first).count() == 3
    assert not Instance.objects.filter(account=second).exists()  # only the account asked for
    first.refresh_from_db()
    assert first.status == AccountStatus.ACTIVE

    again = discover("--account", CUSTOMER_ACCOUNT)
    assert again.splitlines()[-1].startswith("  3 instances; 0 new, 0 changed, 0 gone; 0 flagged")


def test_one_account_by_spotopt_id(first, second):
    launch_instances(OTHER_CUSTOMER_ACCOUNT, "eu-west-1", 2)
    output = discover("--account", str(second.pk))
    assert output.startswith(f"Beta ({OTHER_CUSTOMER_ACCOUNT}): 2 region(s)\n")
    assert "  eu-west-1: 2 instances\n" in output
    assert Instance.objects.filter(account=second).count() == 2
    assert "discovery" not in type(first).objects.get(pk=first.pk).account_metadata


@pytest.mark.parametrize("given", ["999999999999", "not-an-id", str(uuid.uuid4())])
def test_an_unknown_account_is_a_command_error(first, given):
    with pytest.raises(CommandError, match=f"No connected account '{given}'"):
        discover("--account", given)
    first.refresh_from_db()
    assert "discovery" not in first.account_metadata


def test_an_account_that_is_not_connected_is_not_discovered_even_when_named(first, make_account, client_user):
    pending = role_account(make_account, client_user, "210987654321", status=AccountStatus.PENDING)
    with pytest.raises(CommandError, match="No connected account"):
        discover("--account", "210987654321")
    with pytest.raises(CommandError, match="No connected account"):
        discover("--account", str(pending.pk))


def test_every_connected_account_by_default(first, second, make_account, client_user):
    role_account(make_account, client_user, "210987654321", account_name="Pending", status=AccountStatus.PENDING)
    role_account(make_account, client_user, "321098765432", account_name="Off", is_active=False)
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 1)
    launch_instances(OTHER_CUSTOMER_ACCOUNT, "us-east-1", 2)

    output = discover()

    headers = [line for line in output.splitlines() if not line.startswith("  ")]
    assert headers == [  # by account name
        f"Alpha prod ({CUSTOMER_ACCOUNT}): 2 region(s)",
        f"Beta ({OTHER_CUSTOMER_ACCOUNT}): 2 region(s)",
    ]
    assert output.count("termination request(s) filed; account active") == 2
    assert Instance.objects.count() == 3


def test_nothing_to_discover(db):
    assert discover() == "No connected accounts to discover.\n"


def test_a_failing_region_is_reported_and_an_account_that_fails_entirely_fails_the_command(
    first, make_account, client_user, monkeypatch
):
    from fleet import services

    real = services._discover_region

    def deny_eu(*, account, region, result):
        if region == "eu-west-1":
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "DescribeInstances")
        return real(account=account, region=region, result=result)

    monkeypatch.setattr(services, "_discover_region", deny_eu)
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 1)

    output = discover("--account", CUSTOMER_ACCOUNT)  # one region answered: not a failure
    assert "  us-east-1: 1 instances\n" in output
    assert "  eu-west-1: failed: AWS denied DescribeInstances" in output

    only_eu = role_account(make_account, client_user, "210987654321", regions=["eu-west-1"], account_name="EU")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"Discovery failed for 1 account\(s\)"):
        call_command("discover", "--account", "210987654321", stdout=err)
    assert "account failed" in err.getvalue()
    only_eu.refresh_from_db()
    assert only_eu.status == AccountStatus.FAILED


# --- The periodic job ------------------------------------------------------------------------------------


def test_discover_all_accounts_queues_one_task_per_connected_account(first, second, make_account, client_user):
    role_account(make_account, client_user, "210987654321", status=AccountStatus.PENDING)
    role_account(make_account, client_user, "321098765432", status=AccountStatus.FAILED)
    role_account(make_account, client_user, "432109876543", is_active=False)
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    launch_instances(OTHER_CUSTOMER_ACCOUNT, "eu-west-1", 1)

    assert fleet_tasks.discover_all_accounts() == 2

    # django-q2 sync: each queued task ran inline and its result was recorded.
    ran = Task.objects.filter(func="fleet.tasks.discover_account", group="discovery")
    assert sorted(task.args[0] for task in ran) == sorted([str(first.pk), str(second.pk)])
    assert all(task.success for task in ran)
    assert sorted(task.result["instances_found"] for task in ran) == [1, 2]
    assert Instance.objects.filter(account=first).count() == 2
    assert Instance.objects.filter(account=second).count() == 1
    first.refresh_from_db()
    assert first.status == AccountStatus.ACTIVE


def test_discover_all_accounts_enqueues_ids_only(first, second, monkeypatch):
    queued = []
    monkeypatch.setattr(fleet_tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, args, kwargs)))
    assert fleet_tasks.discover_all_accounts() == 2
    assert sorted(queued) == sorted(
        ("fleet.tasks.discover_account", (str(account.pk),), {"group": "discovery"}) for account in (first, second)
    )


def test_the_discovery_schedule_exists_after_setup_schedules(db):
    call_command("setup_schedules", stdout=io.StringIO())
    schedule = Schedule.objects.get(name="spotopt:fleet.discover-all")
    assert schedule.func == "fleet.tasks.discover_all_accounts"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 15
    assert schedule.repeats == -1
    # Idempotent: a second run leaves one schedule of that name.
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert "unchanged spotopt:fleet.discover-all" in out.getvalue()
    assert Schedule.objects.filter(name="spotopt:fleet.discover-all").count() == 1
