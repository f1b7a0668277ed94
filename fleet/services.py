"""Fleet workflows: discovery of a connected account's EC2 estate."""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.models import Account
from spotopt import aws
from spotopt.errors import DomainError

logger = logging.getLogger(__name__)


@dataclass
class DiscoveryResult:
    instances_by_region: dict[str, int] = field(default_factory=dict)
    errors_by_region: dict[str, str] = field(default_factory=dict)

    @property
    def instances_found(self) -> int:
        return sum(self.instances_by_region.values())

    @property
    def succeeded(self) -> bool:
        return bool(self.instances_by_region) or not self.errors_by_region


def _save_progress(account: Account, progress: dict, **extra_metadata) -> None:
    # Read-modify-write of the JSON under a row lock, so a concurrent writer's keys are not lost.
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        metadata = dict(locked.account_metadata)
        metadata["discovery"] = progress
        metadata.update(extra_metadata)
        Account.objects.filter(pk=account.pk).update(account_metadata=metadata)
        account.account_metadata = metadata


def _count_instances(account: Account, region: str) -> int:
    ec2 = aws.client_for(account, "ec2", region)
    found = 0
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            found += sum(1 for i in reservation["Instances"] if i["State"]["Name"] != "terminated")
    return found


def account_discover(*, account: Account) -> DiscoveryResult:
    """Scan every region of the account, recording progress for the onboarding page's live status.

    One failing region does not fail the others; the account becomes active when at least one region
    answered, failed (from connected) with a last_error that says what to do when none did."""
    regions = account.regions_to_scan
    started = timezone.now()
    progress = {
        "state": "running",
        "started_at": started.isoformat(),
        "finished_at": None,
        "regions_total": len(regions),
        "regions_done": 0,
        "instances_found": 0,
        "regions": {},
        "errors": {},
    }
    _save_progress(account, progress)
    result = DiscoveryResult()
    for region in regions:
        try:
            with aws.aws_errors(f"list the EC2 instances in {region}"):
                count = _count_instances(account, region)
        except DomainError as error:
            result.errors_by_region[region] = error.message
            progress["errors"][region] = error.message
            logger.warning("discovery of %s in %s failed: %s", account.account_id, region, error.message)
        else:
            result.instances_by_region[region] = count
            progress["regions"][region] = count
            progress["instances_found"] += count
        progress["regions_done"] += 1
        _save_progress(account, progress)

    progress["state"] = "succeeded" if result.succeeded else "failed"
    progress["finished_at"] = timezone.now().isoformat()
    _finish(account, progress, result)
    return result


@transaction.atomic
def _finish(account: Account, progress: dict, result: DiscoveryResult) -> None:
    locked = Account.objects.select_for_update().get(pk=account.pk)
    metadata = dict(locked.account_metadata)
    metadata["discovery"] = progress
    if result.succeeded:
        metadata.pop("last_error", None)
        if result.errors_by_region:
            metadata["last_error"] = {
                "message": "Some regions could not be scanned: "
                + "; ".join(f"{region}: {message}" for region, message in result.errors_by_region.items()),
                "code": "partial_discovery",
            }
        if locked.status == AccountStatus.CONNECTED:
            locked.move_to(AccountStatus.ACTIVE)
    else:
        first_region, first_message = next(iter(result.errors_by_region.items()))
        metadata["last_error"] = {"message": f"{first_region}: {first_message}", "code": "discovery_failed"}
        if locked.status == AccountStatus.CONNECTED:
            locked.move_to(AccountStatus.FAILED)
    locked.account_metadata = metadata
    locked.save(update_fields=["status", "account_metadata", "updated_at"])
    account.status, account.account_metadata = locked.status, metadata
