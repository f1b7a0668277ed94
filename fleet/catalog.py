"""The instance-type catalog and the compatible Spot pools of an instance.

The catalog is AWS's public description of each region's instance types (DescribeInstanceTypes: vCPUs,
memory, architectures, GPUs, instance storage, network, usage classes) and of the zones that offer each
type (DescribeInstanceTypeOfferings, LocationType=availability-zone). It is read through a connected
account's role (any active account that scans the region will do: the data is the same for everybody), kept
in `InstanceTypeFacts` and `InstanceTypeOffering`, and refreshed daily (`fleet.refresh-instance-types`,
`catalog_refresh_all`). Writes are set-based: upserts in batches, and what a region no longer lists is
deleted with one anti-join against the names just read (a temporary table, `spotopt.db.temporary_id_set`).
A second refresh with nothing new at AWS leaves every row as it was, only `refreshed_at` moves.

`compatible_instance_types` and `compatible_spot_pools` answer, for one instance, the types and the
(region, zone, type) pools it could run in on Spot, in SQL (two queries, three when the instance's account
is not loaded yet), closest fit first. The replica safety net (risk.safety) then leaves out poisoned pools
(risk.gatekeeper) and ranks the rest; the optimizer will sort them by price.
"""

import json
import logging

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.models import Account, instance_type_patterns_clean
from spotopt import aws
from spotopt.db import pk_batches, temporary_id_set
from spotopt.errors import DomainError

from .models import Instance, InstanceTypeFacts, InstanceTypeOffering

logger = logging.getLogger(__name__)

# Accounts whose role the daily job may read a region's catalog through.
READER_STATUSES = (AccountStatus.CONNECTED, AccountStatus.ACTIVE)
# A region is tried through at most this many accounts before the job records it as failed.
READERS_PER_REGION = 3
UPSERT_BATCH = 1000
FACT_FIELDS = [
    "vcpus",
    "memory_mib",
    "architectures",
    "architecture",
    "gpu_manufacturer",
    "gpu_name",
    "gpu_count",
    "gpu_memory_mib",
    "instance_storage_gb",
    "network_performance",
    "supported_usage_classes",
    "supports_spot",
    "burstable",
    "current_generation",
    "refreshed_at",
]
# Closest fit first: fewest vCPUs, least memory, fewest GPUs, current generation before older ones, then
# the type's name (a stable, deterministic tiebreak).
FIT_ORDER = ("vcpus", "memory_mib", "gpu_count", "-current_generation", "instance_type")
# compatible_spot_pools answers at most this many pools by default (the closest fits; None: all of them).
DEFAULT_POOL_LIMIT = 300


# --- Refreshing the catalog -----------------------------------------------------------------------------


def _primary_architecture(architectures: list[str]) -> str:
    """The architecture the search filters on: the first one other than the 32-bit i386."""
    return next((arch for arch in architectures if arch != "i386"), architectures[0] if architectures else "")


def facts_from_aws(raw: dict, *, region: str, now) -> InstanceTypeFacts:
    """One DescribeInstanceTypes entry as an (unsaved) InstanceTypeFacts row."""
    gpu_info = raw.get("GpuInfo") or {}
    gpus = gpu_info.get("Gpus") or []
    first_gpu = gpus[0] if gpus else {}
    architectures = list((raw.get("ProcessorInfo") or {}).get("SupportedArchitectures") or [])
    usage_classes = sorted(raw.get("SupportedUsageClasses") or [])
    return InstanceTypeFacts(
        region=region,
        instance_type=raw["InstanceType"],
        vcpus=(raw.get("VCpuInfo") or {}).get("DefaultVCpus") or 0,
        memory_mib=(raw.get("MemoryInfo") or {}).get("SizeInMiB") or 0,
        architectures=architectures,
        architecture=_primary_architecture(architectures)[:16],
        gpu_manufacturer=(first_gpu.get("Manufacturer") or "")[:32],
        gpu_name=(first_gpu.get("Name") or "")[:64],
        gpu_count=sum(gpu.get("Count") or 0 for gpu in gpus),
        gpu_memory_mib=gpu_info.get("TotalGpuMemoryInMiB") or 0,
        instance_storage_gb=(raw.get("InstanceStorageInfo") or {}).get("TotalSizeInGB") or 0,
        network_performance=((raw.get("NetworkInfo") or {}).get("NetworkPerformance") or "")[:64],
        supported_usage_classes=usage_classes,
        supports_spot="spot" in usage_classes,
        burstable=bool(raw.get("BurstablePerformanceSupported")),
        current_generation=bool(raw.get("CurrentGeneration")),
        refreshed_at=now,
    )


def _read_catalog(account: Account, region: str, now) -> tuple[list[InstanceTypeFacts], list[InstanceTypeOffering]]:
    with aws.aws_errors(f"read the instance-type catalog of {region}"):
        ec2 = aws.client_for(account, "ec2", region)
        facts = {
            raw["InstanceType"]: facts_from_aws(raw, region=region, now=now)
            for page in ec2.get_paginator("describe_instance_types").paginate()
            for raw in page["InstanceTypes"]
        }
        pools = {
            (row["Location"], row["InstanceType"])
            for page in ec2.get_paginator("describe_instance_type_offerings").paginate(LocationType="availability-zone")
            for row in page["InstanceTypeOfferings"]
        }
    offerings = [
        InstanceTypeOffering(region=region, availability_zone=zone, instance_type=name, refreshed_at=now)
        for zone, name in sorted(pools)
    ]
    return list(facts.values()), offerings


def instance_type_catalog_refresh(*, account: Account, region: str) -> dict:
    """Read `region`'s instance types and their zone offerings through `account` and store them.

    Idempotent: rows are upserted on (region, instance_type) and (region, zone, instance_type), so their ids
    stay; types and offerings the region no longer lists are deleted. AWS answering no instance types at all
    is refused (DomainError) rather than emptying the region's catalog. Returns what was read and removed."""
    now = timezone.now()
    facts, offerings = _read_catalog(account, region, now)
    if not facts:
        raise DomainError(f"AWS listed no instance types in {region}; the stored catalog was kept.")
    with transaction.atomic():
        InstanceTypeFacts.objects.bulk_create(
            facts,
            batch_size=UPSERT_BATCH,
            update_conflicts=True,
            unique_fields=["region", "instance_type"],
            update_fields=FACT_FIELDS,
        )
        InstanceTypeOffering.objects.bulk_create(
            offerings,
            batch_size=UPSERT_BATCH,
            update_conflicts=True,
            unique_fields=["region", "availability_zone", "instance_type"],
            update_fields=["refreshed_at"],
        )
        with temporary_id_set(max_length=64) as listed_types:
            listed_types.add(fact.instance_type for fact in facts)
            types_removed, _ = listed_types.unseen(
                InstanceTypeFacts.objects.filter(region=region), "instance_type"
            ).delete()
        with temporary_id_set(max_length=100) as listed_pools:
            listed_pools.add(f"{row.availability_zone} {row.instance_type}" for row in offerings)
            offerings_removed, _ = _unlisted_offerings(listed_pools, region).delete()
    _statistics_refresh()
    logger.info(
        "instance-type catalog of %s: %s types, %s offerings (%s types and %s offerings removed)",
        region,
        len(facts),
        len(offerings),
        types_removed,
        offerings_removed,
    )
    return {
        "region": region,
        "types": len(facts),
        "offerings": len(offerings),
        "types_removed": types_removed,
        "offerings_removed": offerings_removed,
    }


def _statistics_refresh() -> None:
    """ANALYZE the catalog's tables after a refresh (PostgreSQL): planned with the statistics of empty
    tables, compatible_spot_pools joins thousands of offerings to hundreds of types by a nested loop (200
    ms, inside the two minutes of an interruption warning) instead of a hash join (a few ms). Autovacuum
    would get there, but only after the first warnings."""
    if connection.vendor != "postgresql":
        return
    tables = [connection.ops.quote_name(model._meta.db_table) for model in (InstanceTypeFacts, InstanceTypeOffering)]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")  # table names of our own models, no input


def _unlisted_offerings(listed, region: str) -> QuerySet:
    """The region's offerings whose "zone type" is not in the `listed` id set: one anti-join."""
    meta, quote = InstanceTypeOffering._meta, listed.connection.ops.quote_name
    table = quote(meta.db_table)
    zone, name = (f"{table}.{quote(meta.get_field(field).column)}" for field in ("availability_zone", "instance_type"))
    # Names only (the id set's own table, the model's columns), no input: nothing to inject.
    anti_join = f"NOT EXISTS (SELECT 1 FROM {listed.table} seen WHERE seen.id = {zone} || ' ' || {name})"  # noqa: S608
    return InstanceTypeOffering.objects.filter(region=region).extra(where=[anti_join])  # noqa: S610


def catalog_refresh_all() -> dict:
    """The daily job: every region a connected account scans, read once through one such account (the next
    one, up to READERS_PER_REGION, when AWS refuses it). A region that fails is logged and answered with its
    error, keeps the catalog it had, and the other regions go on. Returns the result by region."""
    readers: dict[str, list] = {}
    accounts = Account.objects.filter(is_active=True, status__in=READER_STATUSES).only("pk", "region", "regions")
    for batch in pk_batches(accounts, 500):
        for account in batch:
            for region in account.regions_to_scan:
                candidates = readers.setdefault(region, [])
                if len(candidates) < READERS_PER_REGION:
                    candidates.append(account.pk)
    results: dict[str, dict] = {}
    for region in sorted(readers):
        errors = []
        for account in Account.objects.filter(pk__in=readers[region]).order_by("created_at", "pk"):
            try:
                results[region] = instance_type_catalog_refresh(account=account, region=region)
                break
            except DomainError as exc:
                errors.append(f"{account.account_id}: {exc.message}")
            except Exception as exc:  # one region's failure must not stop the others
                logger.exception("instance-type catalog of %s through %s failed", region, account.account_id)
                errors.append(f"{account.account_id}: {type(exc).__name__}")
        else:
            logger.warning("instance-type catalog of %s not refreshed: %s", region, "; ".join(errors))
            results[region] = {"region": region, "error": "; ".join(errors)}
    return results


# --- Compatible types and pools -------------------------------------------------------------------------


def _own_facts(instance: Instance) -> InstanceTypeFacts | None:
    return InstanceTypeFacts.objects.filter(region=instance.region, instance_type=instance.instance_type).first()


def _pattern_regex(patterns: list[str]) -> str:
    """fnmatch-style patterns (letters, digits, '.', '-', '*': instance_type_patterns_clean) as one regular
    expression both PostgreSQL and SQLite (Django's REGEXP) read the same way."""
    alternatives = (pattern.replace(".", r"\.").replace("*", ".*") for pattern in patterns)
    return "^(" + "|".join(alternatives) + ")$"


def _compatible(instance: Instance, own: InstanceTypeFacts, allowed, denied, prefix: str = "") -> Q:
    """The catalog condition of the types compatible with `instance` (whose type's facts are `own`), on
    InstanceTypeFacts (prefix "") or through a relation to it (prefix "facts__")."""

    def q(**lookups) -> Q:
        return Q(**{f"{prefix}{key}": value for key, value in lookups.items()})

    account = instance.account
    allowed = instance_type_patterns_clean(
        account.allowed_instance_types if allowed is None else allowed, field="allowed_instance_types"
    )
    denied = instance_type_patterns_clean(
        account.denied_instance_types if denied is None else denied, field="denied_instance_types"
    )
    condition = q(region=instance.region, vcpus__gte=own.vcpus, memory_mib__gte=own.memory_mib, supports_spot=True)
    # The architecture the instance's image runs (DescribeInstances), else its type's.
    architecture = (instance.instance_metadata or {}).get("architecture") or own.architecture
    if architecture == own.architecture:
        condition &= q(architecture=architecture)
    else:  # i386, or an image whose architecture is not its type's first one: any type that supports it
        condition &= q(architectures__icontains=json.dumps(architecture))
    if own.gpu_count:
        condition &= q(gpu_manufacturer=own.gpu_manufacturer, gpu_name=own.gpu_name, gpu_count__gte=own.gpu_count)
    else:
        condition &= q(gpu_count=0)
    if not own.burstable:
        condition &= q(burstable=False)
    if allowed:
        condition &= q(instance_type__regex=_pattern_regex(allowed))
    if denied:
        condition &= ~q(instance_type__regex=_pattern_regex(denied))
    return condition


def compatible_instance_types(
    *, instance: Instance, allowed: list[str] | None = None, denied: list[str] | None = None
) -> list[str]:
    """The instance types of the instance's region that could replace it on Spot, closest fit first
    (FIT_ORDER: fewest vCPUs, least memory, fewest GPUs, current generation first, then by name).

    Compatible: Spot offered; the architecture of the instance's image; at least its type's vCPUs and
    memory; for a GPU instance the same GPU manufacturer and model and at least as many GPUs, for one
    without GPUs only types without GPUs; no burstable (CPU-credit) type for an instance that is not
    burstable itself; allowed by `allowed` and not matched by `denied` (fnmatch patterns such as "m5.*";
    None: the account's own allowed_instance_types / denied_instance_types; an empty allowed list allows
    everything, denied wins over allowed). Its own type is included when it qualifies. A type the catalog
    does not know yet has no compatible types ([]). Two queries (three when instance.account is not loaded)."""
    own = _own_facts(instance)
    if own is None:
        return []
    return list(
        InstanceTypeFacts.objects.filter(_compatible(instance, own, allowed, denied))
        .order_by(*FIT_ORDER)
        .values_list("instance_type", flat=True)
    )


def instance_zones(*, instance: Instance) -> list[str]:
    """The availability zones the instance may be replaced in.

    A standalone instance (or a node outside an Auto Scaling group): its own zone, the zone of its subnet
    (instance_metadata["subnet_id"]; a subnet lives in exactly one zone). An Auto Scaling group member:
    the zones of the group's subnets. Those are not stored by discovery (only the group's name, in
    cluster_membership["asg_name"]), so they are read from AWS through the account's role:
    DescribeAutoScalingGroups, then DescribeSubnets of its VPCZoneIdentifier (the group's
    AvailabilityZones for a group without subnets). When that fails, the instance's own zone."""
    group_name = (instance.cluster_membership or {}).get("asg_name")
    if not group_name:
        return [instance.availability_zone]
    try:
        with aws.aws_errors(f"read the zones of the Auto Scaling group {group_name}"):
            groups = aws.client_for(instance.account, "autoscaling", instance.region).describe_auto_scaling_groups(
                AutoScalingGroupNames=[group_name]
            )["AutoScalingGroups"]
            group = groups[0] if groups else {}
            subnet_ids = [subnet for subnet in (group.get("VPCZoneIdentifier") or "").split(",") if subnet.strip()]
            if subnet_ids:
                subnets = aws.client_for(instance.account, "ec2", instance.region).describe_subnets(
                    SubnetIds=[subnet.strip() for subnet in subnet_ids]
                )["Subnets"]
                zones = {subnet["AvailabilityZone"] for subnet in subnets}
            else:
                zones = set(group.get("AvailabilityZones") or [])
    except DomainError as exc:
        logger.warning("zones of %s unknown (%s); using %s", group_name, exc.message, instance.availability_zone)
        zones = set()
    return sorted(zones) or [instance.availability_zone]


def compatible_spot_pools(
    *,
    instance: Instance,
    allowed: list[str] | None = None,
    denied: list[str] | None = None,
    limit: int | None = DEFAULT_POOL_LIMIT,
) -> list[tuple[str, str, str]]:
    """(region, availability zone, instance type) Spot pools the instance could run in: the compatible types
    (compatible_instance_types: same architecture, at least its vCPUs and memory, same GPU kind and at least
    its GPU count, Spot offered, the account's allowed/denied types) offered (InstanceTypeOffering) in a
    zone the instance may use (instance_zones: its subnet's zone, or its Auto Scaling group's zones, read
    from AWS).

    Best first: the closest fit (FIT_ORDER on the type), then the zone's name. The instance's own pool is
    included when it qualifies; poisoned pools are not left out here (risk.gatekeeper does that), nor is
    anything known about prices or interruptions. At most `limit` pools (None: all). Two queries (three
    when instance.account is not loaded), and an Auto Scaling group member's AWS calls."""
    own = _own_facts(instance)
    if own is None:
        return []
    zones = instance_zones(instance=instance)
    pools = (
        InstanceTypeOffering.objects.filter(
            _compatible(instance, own, allowed, denied, prefix="facts__"),
            region=instance.region,
            availability_zone__in=zones,
        )
        .order_by(
            *(f"-facts__{key[1:]}" if key.startswith("-") else f"facts__{key}" for key in FIT_ORDER),
            "availability_zone",
        )
        .values_list("region", "availability_zone", "instance_type")
    )
    return list(pools if limit is None else pools[:limit])
