"""The waste scanner against moto: exactly the waste of a known account, with reasons and costs; nothing
that Cloud Custodian's naive policies wrongly flag."""

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from spotopt.errors import DomainError
from waste import services
from waste.choices import ResourceType, WasteStatus
from waste.models import WasteResource
from waste.services import account_scan_waste

pytestmark = pytest.mark.django_db


def _rows(account):
    return {row.resource_id: row for row in WasteResource.objects.filter(account=account)}


def test_the_scan_finds_exactly_the_waste_with_reasons_and_costs(estate, waste_account):
    result = account_scan_waste(account=waste_account)

    rows = _rows(waste_account)
    live = {rid for rid, row in rows.items() if row.status == WasteStatus.DETECTED}
    assert live == {
        estate["idle_address"],
        estate["old_volume"],
        estate["source_volume"],  # the snapshots' volume, unattached too
        estate["orphan_snapshot"],
        estate["unused_ami"],
        estate["disabled_ami"],
        estate["stopped_root_volume"],  # report only
    }
    # The keep-tagged volume is listed as exempt, never as waste to act on.
    assert rows[estate["kept_volume"]].status == WasteStatus.EXEMPT
    assert set(rows) == live | {estate["kept_volume"]}
    # None of: the associated address, the attached volume, the young volume, the snapshots behind an AMI (a
    # disabled one too), in a launch template's non-default version or made by AWS Backup, the AMI only a
    # launch template uses, the AMI only a stopped instance uses, the shared AMI.
    for not_waste in (
        "associated_address",
        "builder_root_volume",
        "young_volume",
        "unused_ami_snapshot",
        "disabled_ami_snapshot",
        "lt_snapshot",
        "backup_snapshot",
        "lt_ami",
        "stopped_ami",
        "shared_ami",
    ):
        assert estate[not_waste] not in rows, not_waste

    address = rows[estate["idle_address"]]
    assert address.resource_type == ResourceType.ELASTIC_IP
    assert address.monthly_cost == Decimal("3.6500")  # $0.005 an hour, 730 hours
    assert "not associated with any instance or network interface" in address.reason

    volume = rows[estate["old_volume"]]
    # gp3: 100 GiB at $0.08, 1,000 IOPS above the free 3,000 at $0.005, 75 MB/s above 125 at $0.04.
    assert volume.monthly_cost == Decimal("16.0000")
    assert volume.days_unused == 60
    assert volume.reason.startswith("unattached since ") and "100 GiB gp3" in volume.reason
    assert volume.deletable

    snapshot = rows[estate["orphan_snapshot"]]
    assert snapshot.monthly_cost == Decimal("2.5000")  # 50 GiB at $0.05, an upper bound
    assert "upper bound" in snapshot.reason
    assert snapshot.resource_metadata["cost_is_upper_bound"] is True

    disabled = rows[estate["disabled_ami"]]
    assert disabled.reason.startswith("disabled AMI disabled-image")
    assert disabled.resource_metadata["snapshot_ids"] == [estate["disabled_ami_snapshot"]]

    stopped = rows[estate["stopped_root_volume"]]
    assert not stopped.deletable
    assert f"attached to {estate['stopped_instance']}, stopped since" in stopped.reason
    assert "report only" in stopped.reason
    assert stopped.days_unused == 40

    assert result.found == 7 and result.left == 0
    assert result.monthly_cost == sum(row.monthly_cost for row in rows.values() if row.status == WasteStatus.DETECTED)
    assert waste_account.account_metadata["waste_scan"]["state"] == "finished"


def test_a_rescan_changes_nothing_and_costs_one_describe_per_kind(estate, waste_account):
    first = account_scan_waste(account=waste_account)
    before = {
        rid: (row.status, row.monthly_cost, row.reason, row.updated_at) for rid, row in _rows(waste_account).items()
    }

    second = account_scan_waste(account=waste_account)

    # Not a row written (updated_at included): a rescan that finds nothing new changes nothing.
    after = {
        rid: (row.status, row.monthly_cost, row.reason, row.updated_at) for rid, row in _rows(waste_account).items()
    }
    assert after == before
    # Addresses, volumes, snapshots, images, instances, templates (+ one template's versions), launch
    # configurations, and the launch permissions of the three AMIs that are otherwise unused.
    assert first.aws_calls == second.aws_calls == 7 + 1 + 3


def test_dry_run_writes_nothing_and_the_command_prints_the_summary(estate, waste_account):
    out = io.StringIO()
    call_command("scan_waste", "--account", waste_account.account_id, "--dry-run", stdout=out)

    assert not WasteResource.objects.exists()
    text = out.getvalue()
    assert "[dry run]" in text
    assert "us-east-1: 7 idle (7 new), 0 left the list, 1 exempt, $29.45/month" in text

    out = io.StringIO()
    call_command("scan_waste", stdout=out)
    assert WasteResource.objects.filter(status=WasteStatus.DETECTED).count() == 7
    assert "7 idle resource(s), $29.45/month; 0 left the list; 0 deletion request(s) filed" in out.getvalue()


def test_the_command_refuses_an_unknown_account(db):
    with pytest.raises(CommandError, match="No connected account"):
        call_command("scan_waste", "--account", "999999999999", stdout=io.StringIO())


def test_a_region_that_fails_is_reported_and_keeps_what_was_known(estate, waste_account, monkeypatch):
    account_scan_waste(account=waste_account)
    waste_account.regions = ["us-east-1", "eu-west-1"]
    waste_account.save()
    real = services.region_inventory

    def region_inventory(*, account, region, **kwargs):
        if region == "eu-west-1":
            raise DomainError("AWS refused DescribeAddresses (UnauthorizedOperation) in eu-west-1.")
        return real(account=account, region=region, **kwargs)

    monkeypatch.setattr(services, "region_inventory", region_inventory)
    result = account_scan_waste(account=waste_account)

    assert "UnauthorizedOperation" in result.errors["eu-west-1"]
    assert WasteResource.objects.filter(account=waste_account, status=WasteStatus.DETECTED).count() == 7
    assert waste_account.account_metadata["waste_scan"]["regions"]["eu-west-1"]["error"]
