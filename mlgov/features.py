"""The feature schema: what a risk model is given for one candidate Spot pool, in this order.

A model is uploaded with the feature-schema version it was trained on; only a version listed in
FEATURE_SCHEMAS can leave CANDIDATE, and its ONNX input must be one float tensor [batch, len(features)].
Its outputs must include `probabilities` [batch, 2] (skl2onnx's layout with zipmap off): column 1 is the
probability that an instance in that pool is interrupted within the next day (the crash probability).

Version "1" (each value a float; "missing" flags are 1.0 when the source had no answer, and the value is
then 0.0, never invented):

| # | name | meaning |
|---|---|---|
| 0 | price_ratio_to_on_demand | the pool's current Spot price / the type's on-demand price |
| 1 | price_ratio_to_current | the pool's Spot price / what the instance pays now |
| 2 | price_trend_7d | (last price - price 7 days ago) / price 7 days ago |
| 3 | price_volatility_7d | standard deviation / mean of the pool's price steps over 7 days |
| 4 | pool_interruptions_15d | interruption warnings of the pool, every tenant, last 15 days |
| 5 | pool_days_since_interruption | days since the pool's last warning (capped at 30) |
| 6 | neighbour_az_interruptions_15d | warnings of the same type in the region's other AZs, 15 days |
| 7 | family_interruptions_15d | warnings of the same family (m5.*) in the AZ, 15 days |
| 8 | pool_rebalance_15d | rebalance recommendations of the pool, 15 days |
| 9 | tenant_interruptions_30d | the tenant's own warnings in the region, 30 days |
| 10 | placement_score | GetSpotPlacementScores for the type in the region, 1 to 10 |
| 11 | placement_score_missing | 1.0 when no score is known |
| 12 | advisor_band | the Spot Instance Advisor's interruption band's upper bound (0.05 … 1.0) |
| 13 | advisor_band_missing | 1.0 when the advisor has no band for the type and region |
"""

from datetime import timedelta

FEATURE_SCHEMAS: dict[str, tuple[str, ...]] = {
    "1": (
        "price_ratio_to_on_demand",
        "price_ratio_to_current",
        "price_trend_7d",
        "price_volatility_7d",
        "pool_interruptions_15d",
        "pool_days_since_interruption",
        "neighbour_az_interruptions_15d",
        "family_interruptions_15d",
        "pool_rebalance_15d",
        "tenant_interruptions_30d",
        "placement_score",
        "placement_score_missing",
        "advisor_band",
        "advisor_band_missing",
    )
}
CURRENT_FEATURE_SCHEMA = "1"
PROBABILITIES_OUTPUT = "probabilities"


def features_of(version: str) -> tuple[str, ...] | None:
    return FEATURE_SCHEMAS.get(version)


# --- Building the features of a cycle's candidates ---------------------------------------------------------

HIVE_DAYS = 15
TENANT_DAYS = 30
PRICE_DAYS = 7
DAYS_SINCE_CAP = 30.0


def _family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


class MarketSnapshot:
    """What every candidate of one cycle is scored on, read once for all of them: the pools' Spot price steps
    of the last PRICE_DAYS, on-demand prices, the hive's events of the last HIVE_DAYS (grouped in SQL), the
    tenants' own events of TENANT_DAYS, and the capacity signals. A fixed number of queries per cycle."""

    def __init__(self, pools, *, now):
        from django.db.models import Count, Max

        from fleet.models import CapacitySignal, OnDemandPrice, SpotPriceStep
        from fleet.pricing import on_demand_hourly
        from risk.choices import RiskEventType
        from risk.models import GlobalRiskEvent

        self.now = now
        pools = set(pools)
        regions = {p[0] for p in pools}
        types = {p[2] for p in pools}
        self._on_demand_fallback = on_demand_hourly
        self.steps: dict[tuple, list[tuple]] = {}
        self.sources: dict[tuple, set] = {}
        for row in (
            SpotPriceStep.objects.filter(
                region__in=regions,
                instance_type__in=types,
                observed_at__gte=now - timedelta(days=PRICE_DAYS),
                observed_at__lte=now,  # as of `now`: a decision (or a replay, or training) never sees later
            )
            .order_by("observed_at")
            .values_list("region", "availability_zone", "instance_type", "observed_at", "price", "source")
        ):
            self.steps.setdefault(row[:3], []).append((row[3], float(row[4])))
            self.sources.setdefault(row[:3], set()).add(row[5])
        self.on_demand = {
            (r, t): float(p)
            for r, t, p in OnDemandPrice.objects.filter(region__in=regions, instance_type__in=types).values_list(
                "region", "instance_type", "price"
            )
        }
        self.hive: dict[tuple, dict] = {}
        recent = GlobalRiskEvent.objects.filter(
            region__in=regions, received_at__gte=now - timedelta(days=HIVE_DAYS), received_at__lte=now
        )
        for row in (
            recent.order_by()
            .values("region", "availability_zone", "instance_type", "event_type")
            .annotate(n=Count("id"), last=Max("received_at"))
        ):
            key = (row["region"], row["availability_zone"], row["instance_type"])
            entry = self.hive.setdefault(key, {"terminations": 0, "rebalances": 0, "last": None})
            if row["event_type"] == RiskEventType.TERMINATION_NOTICE:
                entry["terminations"] += row["n"]
                entry["last"] = row["last"]
            else:
                entry["rebalances"] += row["n"]
        # Totals the neighbour features subtract the pool's own from (no loop over the hive per candidate).
        self.by_type: dict[tuple, int] = {}
        self.by_family: dict[tuple, int] = {}
        for (region, zone, instance_type), entry in self.hive.items():
            key = (region, instance_type)
            self.by_type[key] = self.by_type.get(key, 0) + entry["terminations"]
            key = (region, zone, _family(instance_type))
            self.by_family[key] = self.by_family.get(key, 0) + entry["terminations"]
        self.tenant = {
            (row["account_id"], row["region"]): row["n"]
            for row in GlobalRiskEvent.objects.filter(
                region__in=regions,
                event_type=RiskEventType.TERMINATION_NOTICE,
                received_at__gte=now - timedelta(days=TENANT_DAYS),
                received_at__lte=now,
            )
            .order_by()
            .values("account_id", "region")
            .annotate(n=Count("id"))
        }
        self.signals = {
            (s.region, s.instance_type): s
            for s in CapacitySignal.objects.filter(region__in=regions, instance_type__in=types)
        }

    def spot_price(self, pool) -> float | None:
        steps = self.steps.get(tuple(pool))
        return steps[-1][1] if steps else None

    def spot_source(self, pool) -> str:
        """Where the pool's price steps came from ("aws", "synthetic"; "" when it has none)."""
        return ", ".join(sorted(self.sources.get(tuple(pool), ())))

    def on_demand_price(self, region: str, instance_type: str) -> float | None:
        if (region, instance_type) in self.on_demand:
            return self.on_demand[(region, instance_type)]
        fallback = self._on_demand_fallback(instance_type, region)
        return float(fallback) if fallback is not None else None

    def _pool_part(self, pool) -> tuple | None:
        """What features() computes from the pool alone, once per pool and snapshot (10,000 instances share
        a few hundred pools; a snapshot is not changed once built): (last price, feature 0, features 2-8,
        features 10-13, region), or None when the pool's Spot price or its type's on-demand price is not
        known."""
        try:
            cache = self._pool_parts
        except AttributeError:  # set here, not in __init__: subclasses fill the snapshot their own way
            cache = self._pool_parts = {}
        pool = tuple(pool)
        if pool in cache:
            return cache[pool]
        region, zone, instance_type = pool
        steps = self.steps.get(pool)
        on_demand = self.on_demand_price(region, instance_type)
        if not steps or not on_demand:
            cache[pool] = None
            return None
        prices = [price for _, price in steps]
        last, first = prices[-1], prices[0]
        mean = sum(prices) / len(prices)
        variance = sum((p - mean) ** 2 for p in prices) / len(prices)
        own = self.hive.get(pool, {})
        last_hit = own.get("last")
        days_since = min(DAYS_SINCE_CAP, (self.now - last_hit).total_seconds() / 86400) if last_hit else DAYS_SINCE_CAP
        own_hits = own.get("terminations", 0)
        neighbours = self.by_type.get((region, instance_type), 0) - own_hits
        family = self.by_family.get((region, zone, _family(instance_type)), 0) - own_hits
        signal = self.signals.get((region, instance_type))
        score = signal.placement_score if signal else None
        band = signal.advisor_band_max if signal else None
        part = (
            last,
            last / on_demand,
            (
                (last - first) / first if first else 0.0,
                (variance**0.5) / mean if mean else 0.0,
                float(own.get("terminations", 0)),
                days_since,
                float(neighbours),
                float(family),
                float(own.get("rebalances", 0)),
            ),
            (float(score or 0), 0.0 if score else 1.0, (band or 0) / 100.0, 0.0 if band else 1.0),
            region,
        )
        cache[pool] = part
        return part

    def prices_known(self, pool) -> bool:
        """Whether the pool's Spot price and its type's on-demand price are known: then features() answers
        for any instance with a known price."""
        return self._pool_part(pool) is not None

    def features(self, pool, *, current_price: float, account_id) -> list[float] | None:
        """Schema "1" for one candidate pool of one instance, or None when its Spot price is not known."""
        part = self._pool_part(pool)
        if part is None or not current_price:
            return None
        last, to_on_demand, middle, tail, region = part
        return [to_on_demand, last / current_price, *middle, float(self.tenant.get((account_id, region), 0)), *tail]

    def feature_matrix(self, pools, pool_rows, instance_rows, current_prices, account_ids):
        """features() of many (pool, instance) pairs at once, as a float64 numpy matrix: row k is
        features(pools[pool_rows[k]], current_price=current_prices[i], account_id=account_ids[i]) with
        i = instance_rows[k], value for value (the same arithmetic on the same floats). Every pair must have
        features: prices_known(pool) and a current price."""
        import numpy

        width = len(FEATURE_SCHEMAS["1"])
        base = numpy.zeros((len(pools), width))
        last = numpy.zeros(len(pools))
        regions: dict = {}
        region_of = numpy.zeros(len(pools), dtype=numpy.intp)
        for index, pool in enumerate(pools):
            part = self._pool_part(pool)
            if part is None:
                continue
            last[index] = part[0]
            base[index] = [part[1], 0.0, *part[2], 0.0, *part[3]]
            region_of[index] = regions.setdefault(part[4], len(regions))
        accounts: dict = {}
        account_of = numpy.array([accounts.setdefault(a, len(accounts)) for a in account_ids], dtype=numpy.intp)
        tenant = numpy.zeros((max(len(accounts), 1), max(len(regions), 1)))
        for account_id, a in accounts.items():
            for region, r in regions.items():
                tenant[a, r] = float(self.tenant.get((account_id, region), 0))
        pool_rows = numpy.asarray(pool_rows, dtype=numpy.intp)
        instance_rows = numpy.asarray(instance_rows, dtype=numpy.intp)
        matrix = base[pool_rows]
        matrix[:, 1] = last[pool_rows] / numpy.asarray(current_prices, dtype=numpy.float64)[instance_rows]
        matrix[:, 9] = tenant[account_of[instance_rows], region_of[pool_rows]]
        return matrix
