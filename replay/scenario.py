"""A trace's world on the database, through the product's own models and services, and one scenario's run
under every policy (bench/replay.py prints it).

`scenario_seed(trace)` writes what discovery, the catalog refresh and the market refresh would have written
by the trace's start: the catalog (InstanceTypeFacts, InstanceTypeOffering, on-demand list prices, the
types' placement scores as CapacitySignal), the week of Spot price history before the start, one PROD
account per tenant (allow_automatic_switches: the replay measures the policy, not the approval queue), each
instance on-demand at its list price, and the shipped baseline model registered, moved and activated
through mlgov.services. The hive starts empty.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from .simulator import Figures, OnDemandPolicy, PeerPolicy, SpotoptPolicy, simulate, simulation_clock
from .trace import Pool, Trace

MODEL_FILE = Path(settings.BASE_DIR) / "mlgov" / "data" / "baseline-v1.onnx"


@dataclass
class Seeded:
    accounts: dict  # tenant -> Account
    instance_pks: list


def _users():
    from accounts.choices import Role
    from accounts.models import User

    lab, _ = User.objects.get_or_create(
        username="replay-lab", defaults={"email": "replay-lab@example.invalid", "role": Role.LAB}
    )
    boss, _ = User.objects.get_or_create(
        username="replay-admin",
        defaults={"email": "replay-admin@example.invalid", "role": Role.SUPER_ADMIN, "is_superuser": True},
    )
    return lab, boss


def _model() -> None:
    from mlgov.choices import ModelStatus
    from mlgov.models import MLModel
    from mlgov.services import model_activate, model_move, model_upload

    if MLModel.objects.filter(is_active_prod=True).exists():
        return
    lab, boss = _users()
    model = model_upload(
        user=lab, name="replay-baseline", version="1", feature_schema_version="1", data=MODEL_FILE.read_bytes()
    )
    for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
        model = model_move(user=lab, model=model, status=status)
    model = model_move(user=boss, model=model, status=ModelStatus.ENABLED)
    model_activate(user=boss, model=model, note="the replay's model")


def scenario_seed(trace: Trace) -> Seeded:
    from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
    from accounts.models import Account, User
    from fleet.choices import Lifecycle, MarketSource, PriceSource
    from fleet.models import (
        CapacitySignal,
        Instance,
        InstanceTypeFacts,
        InstanceTypeOffering,
        OnDemandPrice,
        SpotPriceStep,
    )

    at = trace.start
    InstanceTypeFacts.objects.bulk_create(
        InstanceTypeFacts(
            region=t.region,
            instance_type=t.instance_type,
            vcpus=t.vcpus,
            memory_mib=t.memory_mib,
            architectures=[t.architecture],
            architecture=t.architecture,
            supported_usage_classes=["on-demand", "spot"],
            supports_spot=True,
            current_generation=True,
            refreshed_at=at,
        )
        for t in trace.types
    )
    InstanceTypeOffering.objects.bulk_create(
        InstanceTypeOffering(region=r, availability_zone=z, instance_type=n, refreshed_at=at) for r, z, n in trace.pools
    )
    OnDemandPrice.objects.bulk_create(
        OnDemandPrice(
            region=t.region,
            instance_type=t.instance_type,
            price=Decimal(str(t.on_demand)),
            source=MarketSource.SYNTHETIC,
            fetched_at=at,
        )
        for t in trace.types
    )
    CapacitySignal.objects.bulk_create(
        CapacitySignal(
            region=t.region, instance_type=t.instance_type, placement_score=t.placement_score, placement_fetched_at=at
        )
        for t in trace.types
    )
    SpotPriceStep.objects.bulk_create(
        (
            SpotPriceStep(
                region=e.pool[0],
                availability_zone=e.pool[1],
                instance_type=e.pool[2],
                price=Decimal(f"{e.price:.6f}"),
                observed_at=e.at,
                source=MarketSource.SYNTHETIC,
            )
            for e in trace.market
            if e.kind == "price" and e.at <= at
        ),
        batch_size=2000,
    )
    _model()
    accounts = {}
    for tenant in trace.tenants:
        user = User.objects.create_user(
            username=f"replay-{tenant.tenant}", email=f"{tenant.tenant}@example.invalid", role=Role.CLIENT
        )
        accounts[tenant.tenant] = Account.objects.create(
            user=user,
            account_id=tenant.account_id,
            account_name=f"Replay tenant {tenant.tenant}",
            environment_type=EnvironmentType.PROD
            if tenant.environment == EnvironmentType.PROD
            else EnvironmentType.LAB,
            connection_method=ConnectionMethod.IAM_ROLE,
            role_arn=f"arn:aws:iam::{tenant.account_id}:role/SpotOptimizerRole",
            external_id=f"replay-{tenant.tenant}",
            status=AccountStatus.ACTIVE,
            regions=sorted({t.region for t in trace.types}),
            allow_automatic_switches=True,
        )
    on_demand = trace.on_demand()
    rows = Instance.objects.bulk_create(
        Instance(
            account=accounts[i.tenant],
            instance_id=i.instance_id,
            instance_type=i.instance_type,
            availability_zone=i.availability_zone,
            region=i.region,
            lifecycle=Lifecycle.ON_DEMAND,
            is_active=True,
            hourly_price=Decimal(str(on_demand[(i.region, i.instance_type)])),
            price_source=PriceSource.ON_DEMAND_LIST,
            instance_metadata={"architecture": "x86_64", "tags": {}, "launch_time": at.isoformat()},
            search_text=f"{i.instance_id} {i.instance_type}",
        )
        for i in trace.instances
    )
    return Seeded(accounts=accounts, instance_pks=[row.pk for row in rows])


def peer_candidates(trace: Trace, seeded: Seeded) -> dict[tuple[str, str], list[Pool]]:
    """Each (instance type, zone) of the fleet's compatible Spot pools, as the product's catalog answers
    (fleet.catalog.compatible_spot_pools_for), the instance's own pool first: what the peers choose from,
    always for the instance's type at the start (a NodePool's or group's requirements do not change when
    an instance lands on a bigger type)."""
    import uuid

    from fleet.catalog import compatible_spot_pools_for
    from fleet.models import Instance

    account = next(iter(seeded.accounts.values()))
    probes = {}
    for item in trace.instances:
        key = (item.instance_type, item.availability_zone)
        if key in probes:
            continue
        probe = Instance(
            pk=uuid.uuid4(),
            account=account,
            instance_id=item.instance_id,
            instance_type=item.instance_type,
            availability_zone=item.availability_zone,
            region=item.region,
            instance_metadata={"architecture": "x86_64"},
        )
        probes[key] = probe
    found = compatible_spot_pools_for(list(probes.values()))
    candidates = {}
    for key, probe in probes.items():
        own = (probe.region, probe.availability_zone, probe.instance_type)
        candidates[key] = [own] + [tuple(pool) for pool in found.get(probe.pk, []) if tuple(pool) != own]
    return candidates


def scenario_run(
    trace: Trace, *, cycle_minutes: int = 60, replacement_seconds: float = 90, progress=None
) -> list[Figures]:
    """Seed the trace's world, then replay it under on-demand, AutoSpotting, Karpenter and spotopt."""
    say = progress or (lambda message: None)
    with simulation_clock(trace.start) as clock:
        seeded = scenario_seed(trace)
        candidates = peer_candidates(trace, seeded)
        results = []
        for policy in (
            OnDemandPolicy(),
            PeerPolicy("autospotting", candidates),
            PeerPolicy("karpenter", candidates),
            SpotoptPolicy(seeded, clock),
        ):
            started = datetime.now()
            figures = simulate(trace, policy, cycle_minutes=cycle_minutes, replacement_seconds=replacement_seconds)
            say(f"  {policy.name}: {(datetime.now() - started).total_seconds():.1f} s")
            results.append(figures)
        return results
