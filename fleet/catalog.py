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
(risk.gatekeeper) and ranks the rest. `compatible_spot_pools_for` answers the same for a whole optimizer
cycle, in a number of queries and AWS calls that does not grow with its instances.
"""

import json
import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, connections, transaction
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
# compatible_spot_pools_for reads the Auto Scaling groups of this many (account, region) pairs side by side.
READ_THREADS = 8


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


def _patterns_of(instance: Instance, allowed, denied) -> tuple[list[str], list[str]]:
    """The cleaned allowed and denied patterns for `instance`: the given lists, else its account's."""
    account = instance.account
    allowed = instance_type_patterns_clean(
        account.allowed_instance_types if allowed is None else allowed, field="allowed_instance_types"
    )
    denied = instance_type_patterns_clean(
        account.denied_instance_types if denied is None else denied, field="denied_instance_types"
    )
    return allowed, denied


def _architecture_of(instance: Instance, own: InstanceTypeFacts) -> str:
    """The architecture the instance's image runs (DescribeInstances), else its type's."""
    return (instance.instance_metadata or {}).get("architecture") or own.architecture


def _compatible(instance: Instance, own: InstanceTypeFacts, allowed, denied, prefix: str = "") -> Q:
    """The catalog condition of the types compatible with `instance` (whose type's facts are `own`), on
    InstanceTypeFacts (prefix "") or through a relation to it (prefix "facts__")."""
    allowed, denied = _patterns_of(instance, allowed, denied)
    return _compatible_condition(instance.region, own, _architecture_of(instance, own), allowed, denied, prefix)


def _compatible_condition(region: str, own: InstanceTypeFacts, architecture: str, allowed, denied, prefix: str) -> Q:
    """_compatible's condition from what determines it: the region, the own type's facts, the image's
    architecture and the cleaned allowed/denied patterns."""

    def q(**lookups) -> Q:
        return Q(**{f"{prefix}{key}": value for key, value in lookups.items()})

    condition = q(region=region, vcpus__gte=own.vcpus, memory_mib__gte=own.memory_mib, supports_spot=True)
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
    return _group_zones(instance.account, instance.region, group_name, instance.availability_zone) or [
        instance.availability_zone
    ]


def _group_zones(account: Account, region: str, group_name: str, fallback_zone: str) -> list[str]:
    """The sorted zones of an Auto Scaling group's subnets (or its AvailabilityZones), read from AWS; []
    when they cannot be read (logged, naming `fallback_zone`, the zone the caller then uses)."""
    try:
        with aws.aws_errors(f"read the zones of the Auto Scaling group {group_name}"):
            groups = aws.client_for(account, "autoscaling", region).describe_auto_scaling_groups(
                AutoScalingGroupNames=[group_name]
            )["AutoScalingGroups"]
            group = groups[0] if groups else {}
            subnet_ids = [subnet for subnet in (group.get("VPCZoneIdentifier") or "").split(",") if subnet.strip()]
            if subnet_ids:
                subnets = aws.client_for(account, "ec2", region).describe_subnets(
                    SubnetIds=[subnet.strip() for subnet in subnet_ids]
                )["Subnets"]
                zones = {subnet["AvailabilityZone"] for subnet in subnets}
            else:
                zones = set(group.get("AvailabilityZones") or [])
    except DomainError as exc:
        logger.warning("zones of %s unknown (%s); using %s", group_name, exc.message, fallback_zone)
        zones = set()
    return sorted(zones)


def _groups_zones(account: Account, region: str, names: list[str]) -> dict[str, list[str]]:
    """_group_zones of several groups of one account and region: DescribeAutoScalingGroups of all of them
    (100 names a call), then DescribeSubnets of all their subnets (200 a call). When that fails, each group
    is read on its own (a subnet deleted from one group must not cost the others their zones)."""
    if len(names) == 1:
        return {names[0]: _group_zones(account, region, names[0], "each member's own zone")}
    try:
        with aws.aws_errors(f"read the zones of {len(names)} Auto Scaling groups"):
            autoscaling = aws.client_for(account, "autoscaling", region)
            groups = {}
            for start in range(0, len(names), 100):
                pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
                    AutoScalingGroupNames=names[start : start + 100]
                )
                groups.update(
                    (group["AutoScalingGroupName"], group) for page in pages for group in page["AutoScalingGroups"]
                )
            subnets_of = {
                name: [subnet.strip() for subnet in (group.get("VPCZoneIdentifier") or "").split(",") if subnet.strip()]
                for name, group in groups.items()
            }
            subnet_ids = sorted({subnet for subnets in subnets_of.values() for subnet in subnets})
            zone_of = {}
            for start in range(0, len(subnet_ids), 200):
                found = aws.client_for(account, "ec2", region).describe_subnets(
                    SubnetIds=subnet_ids[start : start + 200]
                )
                zone_of.update((subnet["SubnetId"], subnet["AvailabilityZone"]) for subnet in found["Subnets"])
    except DomainError:
        return {name: _group_zones(account, region, name, "each member's own zone") for name in names}
    answer = {}
    for name in names:
        group, subnets = groups.get(name, {}), subnets_of.get(name)
        if subnets:
            zones = {zone_of[subnet] for subnet in subnets if subnet in zone_of}
        else:
            zones = set(group.get("AvailabilityZones") or [])
        answer[name] = sorted(zones)
    return answer


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
    return _pools_query(
        _compatible(instance, own, allowed, denied, prefix="facts__"),
        instance.region,
        instance_zones(instance=instance),
        limit,
    )


def _pools_query(condition: Q, region: str, zones: list[str], limit: int | None) -> list[tuple[str, str, str]]:
    pools = (
        InstanceTypeOffering.objects.filter(condition, region=region, availability_zone__in=zones)
        .order_by(
            *(f"-facts__{key[1:]}" if key.startswith("-") else f"facts__{key}" for key in FIT_ORDER),
            "availability_zone",
        )
        .values_list("region", "availability_zone", "instance_type")
    )
    return list(pools if limit is None else pools[:limit])


def _groups_zones_in_thread(read: tuple) -> dict[str, list[str]]:
    """_groups_zones on a worker thread, which closes any database connection it opened (none is needed:
    the account is loaded)."""
    try:
        return _groups_zones(*read)
    finally:
        connections.close_all()


def compatible_spot_pools_for(
    instances,
    *,
    allowed: list[str] | None = None,
    denied: list[str] | None = None,
    limit: int | None = DEFAULT_POOL_LIMIT,
) -> dict:
    """compatible_spot_pools of many instances at once: {instance pk: its pools}, each list exactly what
    compatible_spot_pools(instance=…, allowed=allowed, denied=denied, limit=limit) answers (None: each
    instance's account's own lists), in a number of queries that does not grow with the instances.

    What decides an instance's pools is its region, its type's facts, its image's architecture, the
    allowed/denied patterns and the zones it may use. Instances alike in all but their zones share one
    query (over the zones of all of them, each then taking its own zones' pools in the same order). The own
    types' facts are one query, the accounts not loaded yet one more. Auto Scaling groups' zones are read
    from AWS once per (account, region) for all its groups (_groups_zones), those accounts and regions
    side by side (READ_THREADS)."""
    instances = list(instances)
    missing = {i.account_id for i in instances if not Instance.account.is_cached(i)}
    if missing:
        accounts = Account.objects.in_bulk(missing)
        for instance in instances:
            if not Instance.account.is_cached(instance):
                instance.account = accounts[instance.account_id]
    own_types = {(i.region, i.instance_type) for i in instances}
    facts = {}
    if own_types:
        facts = {
            (row.region, row.instance_type): row
            for row in InstanceTypeFacts.objects.filter(
                region__in={region for region, _ in own_types},
                instance_type__in={name for _, name in own_types},
            )
            if (row.region, row.instance_type) in own_types
        }
    known = [i for i in instances if (i.region, i.instance_type) in facts]
    group_names: dict = {}  # (account pk, region) -> (account, {group names of its members})
    for instance in known:
        group_name = (instance.cluster_membership or {}).get("asg_name")
        if group_name:
            group_names.setdefault((instance.account_id, instance.region), (instance.account, set()))[1].add(group_name)
    group_zones: dict = {}  # (account pk, region, group name) -> its zones ([]: unknown)
    reads = [(account, region, sorted(names)) for (_, region), (account, names) in group_names.items()]
    if len(reads) > 1:
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(reads))) as threads:
            found = list(threads.map(_groups_zones_in_thread, reads))
    else:
        found = [_groups_zones(*read) for read in reads]
    for (account, region, _), zones in zip(reads, found, strict=True):
        for name, its_zones in zones.items():
            group_zones[(account.pk, region, name)] = its_zones
    patterns: dict = {}  # account pk -> its cleaned (allowed, denied), or the given lists' once
    alike: dict = {}  # what decides the pools but the zones -> {zones: [instance pk]}
    answer: dict = {instance.pk: [] for instance in instances}  # in the instances' order
    for instance in known:
        own = facts[(instance.region, instance.instance_type)]
        key = instance.account_id if allowed is None or denied is None else None
        if key not in patterns:
            cleaned_allowed, cleaned_denied = _patterns_of(instance, allowed, denied)
            patterns[key] = (tuple(cleaned_allowed), tuple(cleaned_denied))
        group_name = (instance.cluster_membership or {}).get("asg_name")
        zones = (instance.availability_zone,)
        if group_name:
            zones = tuple(group_zones[(instance.account_id, instance.region, group_name)]) or zones
        decided_by = (instance.region, instance.instance_type, _architecture_of(instance, own), *patterns[key])
        alike.setdefault(decided_by, {}).setdefault(zones, []).append(instance.pk)
    for (region, instance_type, architecture, cleaned_allowed, cleaned_denied), by_zones in alike.items():
        condition = _compatible_condition(
            region, facts[(region, instance_type)], architecture, list(cleaned_allowed), list(cleaned_denied), "facts__"
        )
        if len(by_zones) == 1:
            answers = {zones: _pools_query(condition, region, list(zones), limit) for zones in by_zones}
        else:  # the pools of all their zones, in the order each one's query would answer its own zones'
            every = _pools_query(condition, region, sorted({zone for zones in by_zones for zone in zones}), None)
            answers = {}
            for zones in by_zones:
                wanted = set(zones)
                pools = [pool for pool in every if pool[1] in wanted]
                answers[zones] = pools if limit is None else pools[:limit]
        for zones, pks in by_zones.items():
            for pk in pks:
                answer[pk] = list(answers[zones])
    return answer
