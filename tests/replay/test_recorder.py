"""`manage.py replay_record` writes a real window as a trace: the Spot price history DescribeSpotPriceHistory
gave the platform (moto here), the hive's warnings as pool interruptions, the connected fleets as tenants."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fleet.models import InstanceTypeFacts
from replay.trace import read_trace
from risk.choices import RiskEventType
from tests.aws_fixtures import CUSTOMER_ACCOUNT, REGION, ROLE_ARN, moto  # noqa: F401
from tests.risk.factories import make_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


def facts(name, vcpus=2, memory=8192):
    InstanceTypeFacts.objects.create(
        region=REGION,
        instance_type=name,
        vcpus=vcpus,
        memory_mib=memory,
        architectures=["x86_64"],
        architecture="x86_64",
        supports_spot=True,
        refreshed_at=timezone.now(),
    )


def test_a_recorded_window_replays_as_a_trace(tmp_path, make_account, make_instance, client_user, other_client):
    account = make_account(client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN, regions=[REGION])
    other = make_account(other_client)
    for name in ("m5.large", "c5.large"):
        facts(name, memory=8192 if name == "m5.large" else 4096)
    make_instance(account, instance_type="m5.large", availability_zone="us-east-1a")
    make_instance(other, instance_type="c5.large", availability_zone="us-east-1a")
    now = timezone.now()
    # Two tenants' warnings of one reclaim (seconds apart) are one pool interruption; a rebalance too.
    for n, (seconds, kind) in enumerate([(0, "t"), (20, "t"), (600, "r")]):
        make_event(
            account if n == 0 else other,
            n,
            event_type=RiskEventType.TERMINATION_NOTICE if kind == "t" else RiskEventType.REBALANCE_NOTICE,
            instance_type="m5.large",
            reported_at=now - timedelta(days=1) + timedelta(seconds=seconds),
        )
    out = tmp_path / "recorded.jsonl"
    printed = StringIO()

    call_command(
        "replay_record", "--region", REGION, "--days", "3", "--out", str(out), "--refresh-from", CUSTOMER_ACCOUNT,
        stdout=printed,
    )  # fmt: skip

    trace = read_trace(out)
    assert f"Wrote {out}" in printed.getvalue()
    assert {t.instance_type for t in trace.types} == {"m5.large", "c5.large"}
    assert all(t.on_demand > 0 for t in trace.types)  # the shipped catalog's list prices
    assert {pool[2] for pool in trace.pools} == {"m5.large", "c5.large"} and len(trace.pools) > 2
    prices = [e for e in trace.market if e.kind == "price"]
    assert prices and all(e.price > 0 for e in prices)  # what moto's DescribeSpotPriceHistory answered
    assert [e.kind for e in trace.market if e.kind != "price"] == ["interruption", "rebalance"]
    assert sorted(t.account_id for t in trace.tenants) == sorted([CUSTOMER_ACCOUNT, other.account_id])
    assert {t.tenant for t in trace.tenants} == {"t01", "t02"}
    assert len(trace.instances) == 2
    assert client_user.full_name not in out.read_text()  # tenants are anonymised: no names


def test_recording_without_price_history_or_with_an_unknown_account_says_why(tmp_path):
    out = tmp_path / "none.jsonl"
    with pytest.raises(CommandError, match="No Spot price history is stored for us-east-1"):
        call_command("replay_record", "--region", REGION, "--out", str(out))
    with pytest.raises(CommandError, match="No connected account has the AWS account id 999999999999"):
        call_command("replay_record", "--region", REGION, "--out", str(out), "--refresh-from", "999999999999")
    with pytest.raises(CommandError, match="positive"):
        call_command("replay_record", "--region", REGION, "--out", str(out), "--days", "0")
    assert not out.exists()
