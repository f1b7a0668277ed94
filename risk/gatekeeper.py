"""The pool gatekeeper: the only way any launch path in the product asks whether a Spot pool is poisoned.

A pool (region, availability zone, instance type) is poisoned while its SpotPoolRisk row says so and the
poison has not expired: a poison whose time is up counts as lifted even before the scheduled job clears
the flag.
"""

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from .models import SpotPoolRisk

Pool = tuple[str, str, str]  # (region, availability zone, instance type)


def _poisoned(now: datetime | None):
    return SpotPoolRisk.objects.filter(is_poisoned=True, poison_expires_at__gt=now or timezone.now())


def pool_is_poisoned(region: str, availability_zone: str, instance_type: str, *, now: datetime | None = None) -> bool:
    return (
        _poisoned(now).filter(region=region, availability_zone=availability_zone, instance_type=instance_type).exists()
    )


def poisoned_pools(pools: Iterable[Pool], *, now: datetime | None = None) -> set[Pool]:
    """Which of many candidate pools are poisoned, in one query (the optimizer asks this for thousands of
    candidates per cycle). Poisoned pools are few: the query reads those among the candidates' regions and
    types, and the exact pools are matched here."""
    candidates = {tuple(pool) for pool in pools}
    if not candidates:
        return set()
    regions = {region for region, _, _ in candidates}
    types = {instance_type for _, _, instance_type in candidates}
    rows = (
        _poisoned(now)
        .filter(region__in=regions, instance_type__in=types)
        .values_list("region", "availability_zone", "instance_type")
    )
    return {row for row in rows if row in candidates}
