"""The peers' policies, each stated in one small function over what it may see now (`Market`). They choose
among the same compatible pools the product's catalog gives spotopt (fleet.catalog), so only the rule of
choice differs. What each peer does, as the simulator applies it (replay/simulator.py, PeerPolicy):

- on-demand: never moves; the baseline every saving is measured against.
- AutoSpotting: replaces each on-demand instance with the cheapest compatible Spot pool (its default
  "cheapest" allocation) at every run, and launches an interrupted instance's replacement the same way; it remembers
  nothing, so a replacement may land in the pool just interrupted. It does not act on rebalance
  recommendations and does not move running Spot instances.
- Karpenter: price-capacity-optimized allocation (EC2 Fleet's: the pools with the most spare capacity,
  here the highest Spot placement score and those within one point of it, then the cheapest of them), and
  an interrupted pool is "unavailable" for three minutes (its unavailable-offerings cache). It launches at
  the start and on interruption, and replaces an on-demand node with Spot when a pool is available
  (consolidation); Spot-to-Spot consolidation and rebalance handling are left out (off by default).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .trace import Pool

KARPENTER_UNAVAILABLE_FOR = timedelta(minutes=3)
KARPENTER_CAPACITY_TIER = 1  # placement-score points below the best that still count as "most capacity"


@dataclass
class Market:
    """What a policy may see at a moment: each pool's current Spot price, each (region, type)'s on-demand
    list price and Spot placement score (None: unknown)."""

    spot: dict[Pool, float] = field(default_factory=dict)
    on_demand: dict[tuple[str, str], float] = field(default_factory=dict)
    scores: dict[tuple[str, str], int | None] = field(default_factory=dict)

    def score(self, pool: Pool) -> int:
        return self.scores.get((pool[0], pool[2])) or 0


def autospotting_choice(candidates: list[Pool], market: Market) -> Pool | None:
    """AutoSpotting: the cheapest compatible Spot pool now (ties: the catalog's order)."""
    priced = [pool for pool in candidates if pool in market.spot]
    return min(priced, key=lambda pool: market.spot[pool]) if priced else None


def karpenter_choice(
    candidates: list[Pool], market: Market, *, unavailable_until: dict[Pool, datetime], now: datetime
) -> Pool | None:
    """Karpenter: price-capacity-optimized among the pools not marked unavailable: the deepest capacity
    (highest placement score, within KARPENTER_CAPACITY_TIER of the best), then the cheapest."""
    usable = [
        pool
        for pool in candidates
        if pool in market.spot and (pool not in unavailable_until or unavailable_until[pool] <= now)
    ]
    if not usable:
        return None
    best = max(market.score(pool) for pool in usable)
    deepest = [pool for pool in usable if market.score(pool) >= best - KARPENTER_CAPACITY_TIER]
    return min(deepest, key=lambda pool: market.spot[pool])
