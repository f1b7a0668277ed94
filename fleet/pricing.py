"""Hourly prices of instances, for the fleet's current hourly cost.

On-demand: an approximate list-price catalog shipped with the product (fleet/data/on_demand_prices.json,
Linux, us-east-1, with a factor per region), because the AWS Pricing API is not reachable everywhere (it
is not in moto, and air-gapped installs have none). Spot: the latest DescribeSpotPriceHistory price of the
instance's pool. Discovery writes the result into the instance's `hourly_price` and `price_source`
columns, so pages sum prices in SQL. An instance with no known price counts as unknown, never as zero.
"""

import json
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "on_demand_prices.json"
SPOT_PRODUCT = "Linux/UNIX"


@cache
def _catalog() -> tuple[dict, dict]:
    data = json.loads(CATALOG_PATH.read_text())
    prices = {name: Decimal(value) for name, value in data["us-east-1"].items()}
    factors = {region: Decimal(value) for region, value in data["region_factors"].items()}
    return prices, factors


def on_demand_hourly(instance_type: str, region: str) -> Decimal | None:
    prices, factors = _catalog()
    base = prices.get(instance_type)
    if base is None:
        return None
    return (base * factors.get(region, Decimal("1.00"))).quantize(Decimal("0.0001"))


def instance_hourly(*, lifecycle: str, instance_type: str, region: str, spot_price: str = "") -> tuple:
    """(USD an hour, PriceSource) of an instance: its pool's spot price, or the on-demand list price."""
    from .choices import PriceSource

    if lifecycle == "spot":
        try:
            price = Decimal(spot_price) if spot_price else None
        except InvalidOperation:
            price = None  # a recorded price that is not a number: unknown, not an error
        if price is None or not price.is_finite() or price < 0:
            return None, PriceSource.UNKNOWN
        return price.quantize(Decimal("0.000001")), PriceSource.SPOT_MARKET
    price = on_demand_hourly(instance_type, region)
    return (price, PriceSource.ON_DEMAND_LIST) if price is not None else (None, PriceSource.UNKNOWN)


def catalog_instance_types() -> list[str]:
    """The instance types the shipped catalog prices (suggestions for the fleet's type filter)."""
    return sorted(_catalog()[0])


def latest_spot_prices(ec2, pools: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The newest spot price of each (instance_type, availability_zone) pool: one paginated call a region."""
    if not pools:
        return {}
    types = sorted({instance_type for instance_type, _ in pools})
    newest: dict[tuple[str, str], tuple] = {}
    paginator = ec2.get_paginator("describe_spot_price_history")
    for page in paginator.paginate(InstanceTypes=types, ProductDescriptions=[SPOT_PRODUCT]):
        for entry in page["SpotPriceHistory"]:
            key = (entry["InstanceType"], entry["AvailabilityZone"])
            if key in pools and (key not in newest or entry["Timestamp"] > newest[key][0]):
                newest[key] = (entry["Timestamp"], entry["SpotPrice"])
    return {key: price for key, (_, price) in newest.items()}
