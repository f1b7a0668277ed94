"""The replay trace: a month of one Spot market and the fleets of several tenants, as JSON lines.

Every line is one JSON object with a "kind"; times are ISO 8601 in UTC; prices are USD an hour.

    {"kind": "header", "version": 1, "name": "storms", "start": "2026-11-01T00:00:00+00:00", "days": 30,
     "seed": 7, "assumptions": {...}}                         first line, once
    {"kind": "type", "region": "us-east-1", "instance_type": "m5.large", "vcpus": 2, "memory_mib": 8192,
     "architecture": "x86_64", "on_demand": 0.096, "placement_score": 8}
                                                              the catalog: one per (region, type); the
                                                              placement score (1-10, or null) is AWS's
                                                              Spot placement score of the type
    {"kind": "pool", "region": "us-east-1", "availability_zone": "us-east-1a", "instance_type": "m5.large"}
                                                              a Spot capacity pool (its type is a "type")
    {"kind": "tenant", "tenant": "t01", "account_id": "300000000001", "environment": "PROD"}
    {"kind": "instance", "tenant": "t01", "instance_id": "i-0000000000000001", "region": "us-east-1",
     "availability_zone": "us-east-1a", "instance_type": "m5.large"}
                                                              a tenant's instance, on-demand at the start;
                                                              it stays in its zone (an EBS-bound host)
    {"kind": "price", "at": "...", "region": ..., "availability_zone": ..., "instance_type": ..., "price": 0.031}
                                                              a Spot price step: holds until the pool's
                                                              next one; steps before "start" are history
    {"kind": "interruption", "at": "...", "region": ..., "availability_zone": ..., "instance_type": ...}
                                                              AWS reclaims the pool: every Spot instance
                                                              in it at that moment gets the two-minute
                                                              warning
    {"kind": "rebalance", "at": "...", "region": ..., "availability_zone": ..., "instance_type": ...}
                                                              a rebalance recommendation to every Spot
                                                              instance in the pool

Market lines (price, interruption, rebalance) come in time order. `read_trace` checks all of this and names
the line that breaks it.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

TRACE_VERSION = 1
MARKET_KINDS = ("price", "interruption", "rebalance")

Pool = tuple[str, str, str]  # (region, availability zone, instance type), as risk.gatekeeper.Pool


class TraceError(ValueError):
    pass


@dataclass(frozen=True)
class InstanceType:
    region: str
    instance_type: str
    vcpus: int
    memory_mib: int
    architecture: str
    on_demand: float
    placement_score: int | None = None


@dataclass(frozen=True)
class Tenant:
    tenant: str
    account_id: str
    environment: str = "PROD"


@dataclass(frozen=True)
class TraceInstance:
    tenant: str
    instance_id: str
    region: str
    availability_zone: str
    instance_type: str


@dataclass(frozen=True)
class MarketEvent:
    kind: str  # price, interruption or rebalance
    at: datetime
    pool: Pool
    price: float | None = None


@dataclass
class Trace:
    name: str
    start: datetime
    days: int
    seed: int | None = None
    assumptions: dict = field(default_factory=dict)
    types: list[InstanceType] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    tenants: list[Tenant] = field(default_factory=list)
    instances: list[TraceInstance] = field(default_factory=list)
    market: list[MarketEvent] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def on_demand(self) -> dict[tuple[str, str], float]:
        return {(t.region, t.instance_type): t.on_demand for t in self.types}


def _pool_fields(pool: Pool) -> dict:
    return {"region": pool[0], "availability_zone": pool[1], "instance_type": pool[2]}


def trace_lines(trace: Trace):
    yield {
        "kind": "header",
        "version": TRACE_VERSION,
        "name": trace.name,
        "start": trace.start.isoformat(),
        "days": trace.days,
        "seed": trace.seed,
        "assumptions": trace.assumptions,
    }
    for item in trace.types:
        yield {"kind": "type", **asdict(item)}
    for pool in trace.pools:
        yield {"kind": "pool", **_pool_fields(pool)}
    for tenant in trace.tenants:
        yield {"kind": "tenant", **asdict(tenant)}
    for instance in trace.instances:
        yield {"kind": "instance", **asdict(instance)}
    for event in trace.market:
        line = {"kind": event.kind, "at": event.at.isoformat(), **_pool_fields(event.pool)}
        if event.kind == "price":
            line["price"] = event.price
        yield line


def write_trace(trace: Trace, path: Path) -> int:
    """Write `trace` as JSON lines; returns the number of lines."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for line in trace_lines(trace):
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            count += 1
    return count


def _time(value, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise TraceError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise TraceError(f"{where}: {value!r} has no time zone (times are UTC, e.g. +00:00)")
    return moment


def _pool(line: dict, where: str) -> Pool:
    try:
        return (str(line["region"]), str(line["availability_zone"]), str(line["instance_type"]))
    except KeyError as missing:
        raise TraceError(f"{where}: no {missing.args[0]}") from None


def read_trace(path: Path, *, max_bytes: int = 512 * 1024 * 1024) -> Trace:
    """Read and check a trace file (JSON only: nothing in it is executed)."""
    path = Path(path)
    if path.stat().st_size > max_bytes:
        raise TraceError(f"{path} is larger than {max_bytes} bytes")
    trace, last = None, None
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            where = f"{path.name}:{number}"
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TraceError(f"{where}: not JSON ({exc.msg})") from None
            kind = line.get("kind") if isinstance(line, dict) else None
            if trace is None:
                if kind != "header" or line.get("version") != TRACE_VERSION:
                    raise TraceError(f"{where}: the first line must be a version {TRACE_VERSION} header")
                trace = Trace(
                    name=str(line.get("name", path.stem)),
                    start=_time(line.get("start"), where),
                    days=int(line.get("days", 0)),
                    seed=line.get("seed"),
                    assumptions=line.get("assumptions") or {},
                )
                if trace.days <= 0:
                    raise TraceError(f"{where}: days must be a positive number")
                continue
            try:
                if kind == "type":
                    trace.types.append(
                        InstanceType(
                            region=str(line["region"]),
                            instance_type=str(line["instance_type"]),
                            vcpus=int(line["vcpus"]),
                            memory_mib=int(line["memory_mib"]),
                            architecture=str(line.get("architecture", "x86_64")),
                            on_demand=float(line["on_demand"]),
                            placement_score=line.get("placement_score"),
                        )
                    )
                elif kind == "pool":
                    trace.pools.append(_pool(line, where))
                elif kind == "tenant":
                    trace.tenants.append(
                        Tenant(str(line["tenant"]), str(line["account_id"]), str(line.get("environment", "PROD")))
                    )
                elif kind == "instance":
                    trace.instances.append(
                        TraceInstance(
                            tenant=str(line["tenant"]),
                            instance_id=str(line["instance_id"]),
                            region=str(line["region"]),
                            availability_zone=str(line["availability_zone"]),
                            instance_type=str(line["instance_type"]),
                        )
                    )
                elif kind in MARKET_KINDS:
                    at = _time(line.get("at"), where)
                    if last is not None and at < last:
                        raise TraceError(f"{where}: market lines must come in time order")
                    last = at
                    price = float(line["price"]) if kind == "price" else None
                    if price is not None and price <= 0:
                        raise TraceError(f"{where}: a price must be positive")
                    trace.market.append(MarketEvent(kind, at, _pool(line, where), price))
                else:
                    raise TraceError(f"{where}: unknown kind {kind!r}")
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, TraceError):
                    raise
                raise TraceError(f"{where}: a {kind} line needs {exc}") from None
    if trace is None:
        raise TraceError(f"{path} is empty")
    _check_references(trace)
    return trace


def _check_references(trace: Trace) -> None:
    types = {(t.region, t.instance_type) for t in trace.types}
    pools = set(trace.pools)
    tenants = {t.tenant for t in trace.tenants}
    for pool in pools:
        if (pool[0], pool[2]) not in types:
            raise TraceError(f"pool {pool} has no type line for {pool[2]} in {pool[0]}")
    for instance in trace.instances:
        if instance.tenant not in tenants:
            raise TraceError(f"instance {instance.instance_id} names an unknown tenant {instance.tenant}")
        if (instance.region, instance.instance_type) not in types:
            raise TraceError(f"instance {instance.instance_id} has no type line for {instance.instance_type}")
    for event in trace.market:
        if event.pool not in pools:
            raise TraceError(f"a {event.kind} at {event.at.isoformat()} names an unknown pool {event.pool}")
