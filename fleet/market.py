"""Market data for the optimizer: Spot price history, on-demand prices, placement scores and the Spot
Instance Advisor's interruption bands, cached in the database and refreshed by schedule.

- Spot history (`spot_history_refresh`): DescribeSpotPriceHistory since the newest step we hold (at most
  MARKET_SPOT_HISTORY_DAYS back), for the types asked, stored as steps (a price holds until the pool's next
  step; AWS also returns the last change before StartTime, which is exactly that step). Never overwritten.
- On-demand (`on_demand_refresh`): the AWS Pricing API (GetProducts, Linux, shared tenancy, no
  pre-installed software); when it cannot be asked (permission, endpoint, the emulator: moto does not
  implement it) the shipped list-price catalog (fleet/pricing.py), and the row says which.
- Placement scores (`placement_scores_refresh`): GetSpotPlacementScores per type and region (1-10); when
  the call is refused or not offered the score is stored as missing with the reason, never invented.
- Advisor (`advisor_refresh`): the public spot-advisor-data.json from SPOT_ADVISOR_URL, daily; each type's
  band is the upper bound of its range (5, 11, 16, 22 or 100 % interruptions a month).
"""

import json
import logging
import urllib.request
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from spotopt import aws
from spotopt.errors import DomainError

from .choices import MarketSource
from .models import CapacitySignal, OnDemandPrice, SpotPriceStep
from .pricing import SPOT_PRODUCT, on_demand_hourly

logger = logging.getLogger(__name__)

TYPES_PER_CALL = 100
PRICING_REGION = "us-east-1"  # one of the Pricing API's endpoints; it prices every region
ADVISOR_BANDS = (5, 11, 16, 22, 100)


def _why(error: Exception) -> str:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        return f"{code}: {error.response.get('Error', {}).get('Message', '')}"[:250]
    if isinstance(error, NotImplementedError):
        return "not offered by this AWS endpoint"
    return f"{type(error).__name__}: {error}"[:250]


# --- Spot price history ----------------------------------------------------------------------------------


def spot_history_refresh(*, account, region: str, instance_types: list[str], now=None) -> int:
    """Fetch the new price steps of the types' pools in the region; returns how many were stored."""
    now = now or timezone.now()
    if not instance_types:
        return 0
    horizon = now - timedelta(days=settings.MARKET_SPOT_HISTORY_DAYS)
    newest = SpotPriceStep.objects.filter(region=region, instance_type__in=instance_types).aggregate(
        newest=Max("observed_at")
    )["newest"]
    start = max(horizon, newest) if newest else horizon
    stored = 0
    types = sorted(set(instance_types))
    with aws.aws_errors(f"read the Spot price history in {region}"):
        ec2 = aws.client_for(account, "ec2", region)
        for offset in range(0, len(types), TYPES_PER_CALL):
            steps = []
            pages = ec2.get_paginator("describe_spot_price_history").paginate(
                InstanceTypes=types[offset : offset + TYPES_PER_CALL],
                ProductDescriptions=[SPOT_PRODUCT],
                StartTime=start,
                EndTime=now,
            )
            for page in pages:
                for entry in page["SpotPriceHistory"]:
                    try:
                        price = Decimal(entry["SpotPrice"])
                    except (InvalidOperation, KeyError):
                        continue
                    steps.append(
                        SpotPriceStep(
                            region=region,
                            availability_zone=entry["AvailabilityZone"],
                            instance_type=entry["InstanceType"],
                            price=price.quantize(Decimal("0.000001")),
                            observed_at=entry["Timestamp"],
                            source=MarketSource.AWS,
                        )
                    )
            before = SpotPriceStep.objects.filter(region=region).count()
            SpotPriceStep.objects.bulk_create(steps, ignore_conflicts=True, batch_size=1000)
            stored += SpotPriceStep.objects.filter(region=region).count() - before
    return stored


# --- On-demand prices ------------------------------------------------------------------------------------


def _price_from_products(price_list: list[str]) -> Decimal | None:
    """The USD hourly on-demand price in GetProducts' PriceList (JSON strings), or None."""
    for item in price_list:
        product = json.loads(item) if isinstance(item, str) else item
        for term in (product.get("terms", {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                usd = (dimension.get("pricePerUnit") or {}).get("USD")
                if usd and dimension.get("unit", "Hrs") == "Hrs":
                    try:
                        price = Decimal(usd)
                    except InvalidOperation:
                        continue
                    if price > 0:
                        return price
    return None


def _filters(region: str, instance_type: str) -> list[dict]:
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in fields.items()]


def on_demand_refresh(*, account, region: str, instance_types: list[str], now=None) -> dict:
    """Ask the Pricing API for each type's price in the region; the catalog's where it cannot answer.
    Returns {"pricing_api": n, "catalog": n, "unknown": n, "reason": why the API was not used}."""
    now = now or timezone.now()
    counts = {MarketSource.PRICING_API.value: 0, MarketSource.CATALOG.value: 0, "unknown": 0, "reason": ""}
    rows = []
    pricing = None
    try:
        pricing = aws.client_for(account, "pricing", PRICING_REGION)
    except Exception as error:  # an account whose session cannot be made: the catalog answers
        counts["reason"] = _why(error)
    for instance_type in sorted(set(instance_types)):
        price, source = None, MarketSource.PRICING_API
        if pricing is not None:
            try:
                answer = pricing.get_products(
                    ServiceCode="AmazonEC2", Filters=_filters(region, instance_type), MaxResults=10
                )
                price = _price_from_products(answer.get("PriceList", []))
            except (ClientError, BotoCoreError, NotImplementedError) as error:
                counts["reason"] = _why(error)
                pricing = None  # one refusal is enough: the rest from the catalog
        if price is None:
            price, source = on_demand_hourly(instance_type, region), MarketSource.CATALOG
        if price is None:
            counts["unknown"] += 1
            continue
        counts[source.value] += 1
        rows.append(
            OnDemandPrice(region=region, instance_type=instance_type, price=price, source=source, fetched_at=now)
        )
    OnDemandPrice.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["region", "instance_type"],
        update_fields=["price", "source", "fetched_at"],
    )
    if counts["reason"]:
        logger.info("on-demand prices in %s from the catalog: %s", region, counts["reason"])
    return counts


# --- Capacity signals ------------------------------------------------------------------------------------


def placement_scores_refresh(*, account, region: str, instance_types: list[str], now=None) -> dict:
    """Each type's placement score in the region (capacity 1), or missing with the reason."""
    now = now or timezone.now()
    scores: dict[str, int | None] = {}
    reason = ""
    try:
        ec2 = aws.client_for(account, "ec2", region)
    except Exception as error:
        ec2, reason = None, _why(error)
    for instance_type in sorted(set(instance_types)):
        if ec2 is None:
            scores[instance_type] = None
            continue
        try:
            answer = ec2.get_spot_placement_scores(
                InstanceTypes=[instance_type], TargetCapacity=1, RegionNames=[region], SingleAvailabilityZone=False
            )
            found = [s.get("Score") for s in answer.get("SpotPlacementScores", []) if s.get("Region") == region]
            scores[instance_type] = int(found[0]) if found and found[0] else None
        except (ClientError, BotoCoreError, NotImplementedError) as error:
            reason, ec2 = _why(error), None  # a refusal applies to every type: ask no more
            scores[instance_type] = None
    rows = [
        CapacitySignal(
            region=region,
            instance_type=instance_type,
            placement_score=score if score and 1 <= score <= 10 else None,
            placement_missing_reason="" if score else (reason or "AWS gave no score"),
            placement_fetched_at=now,
        )
        for instance_type, score in scores.items()
    ]
    CapacitySignal.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["region", "instance_type"],
        update_fields=["placement_score", "placement_missing_reason", "placement_fetched_at"],
    )
    return {
        "scored": sum(1 for s in scores.values() if s),
        "missing": sum(1 for s in scores.values() if not s),
        "reason": reason,
    }


def advisor_refresh(*, url: str | None = None, regions: list[str] | None = None, now=None) -> dict:
    """Read the Spot Instance Advisor's public data and store each type's band for the regions in use."""
    now = now or timezone.now()
    url = url or settings.SPOT_ADVISOR_URL
    if not url.startswith(("https://", "http://")):
        raise ValueError("SPOT_ADVISOR_URL must be an http(s) URL.")
    limit = settings.SPOT_ADVISOR_MAX_BYTES
    with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (the scheme is checked above)
        body = response.read(limit + 1)
    if len(body) > limit:
        raise ValueError(f"The advisor data is over {limit:,} bytes: refused.")
    data = json.loads(body)
    ranges = {r["index"]: int(r["max"]) for r in data.get("ranges", [])}
    wanted = set(regions or settings.SPOTOPT_REGIONS)
    rows = []
    for region, systems in (data.get("spot_advisor") or {}).items():
        if region not in wanted:
            continue
        for instance_type, facts in (systems.get("Linux") or {}).items():
            band = ranges.get(facts.get("r"))
            if band not in ADVISOR_BANDS:
                continue
            rows.append(
                CapacitySignal(
                    region=region,
                    instance_type=instance_type,
                    advisor_band_max=band,
                    advisor_savings_percent=max(0, min(100, int(facts.get("s", 0)))),
                    advisor_fetched_at=now,
                )
            )
    CapacitySignal.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["region", "instance_type"],
        update_fields=["advisor_band_max", "advisor_savings_percent", "advisor_fetched_at"],
        batch_size=1000,
    )
    return {"types": len(rows), "regions": len({row.region for row in rows})}


# --- The hourly job --------------------------------------------------------------------------------------


def market_types(region: str) -> tuple[list[str], list[str]]:
    """(the types whose prices the optimizer may need in the region: the instance-type catalog's current
    generation Spot types, or the fleet's own when the catalog is empty; the fleet's own types there)."""
    from .models import Instance, InstanceTypeFacts

    fleet = sorted(set(Instance.objects.filter(region=region, is_active=True).values_list("instance_type", flat=True)))
    catalog = list(
        InstanceTypeFacts.objects.filter(region=region, supports_spot=True, current_generation=True)
        .order_by("instance_type")
        .values_list("instance_type", flat=True)
    )
    return sorted(set(catalog) | set(fleet)), fleet


def market_refresh_all(*, now=None) -> dict:
    """Each region any connected account scans, with the first such account: history, prices, scores."""
    from accounts.choices import AccountStatus
    from accounts.models import Account

    by_region = {}
    for account in Account.objects.filter(
        is_active=True, status__in=[AccountStatus.CONNECTED, AccountStatus.ACTIVE]
    ).order_by("created_at"):
        for region in account.regions_to_scan:
            by_region.setdefault(region, account)
    results = {}
    for region, account in sorted(by_region.items()):
        candidates, fleet = market_types(region)
        try:
            results[region] = {
                "spot_steps": spot_history_refresh(account=account, region=region, instance_types=candidates, now=now),
                "on_demand": on_demand_refresh(account=account, region=region, instance_types=candidates, now=now),
                "placement": placement_scores_refresh(account=account, region=region, instance_types=fleet, now=now),
            }
        except DomainError as error:  # one region's failure is reported; the others go on
            logger.warning("market data of %s failed: %s", region, error)
            results[region] = {"error": str(error)[:300]}
    return results


# --- The demo's synthetic history ------------------------------------------------------------------------


def synthetic_spot_history_seed(*, pools, days: int = 7, seed: int = 7, now=None) -> int:
    """A plausible week of Spot price steps for `pools`, stored with source SYNTHETIC (the pages label them):
    for the demo only, because the AWS emulator's prices are constant. Each pool draws a base of 25-75 % of
    its type's on-demand price (the catalog's) from a generator seeded by the pool's name, then steps every
    twelve hours by a random walk of a few percent. Pools that already have synthetic steps are left alone."""
    import random

    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    have = set(
        SpotPriceStep.objects.filter(source=MarketSource.SYNTHETIC).values_list(
            "region", "availability_zone", "instance_type"
        )
    )
    steps = []
    for pool in sorted(set(map(tuple, pools)) - have):
        region, zone, instance_type = pool
        on_demand = on_demand_hourly(instance_type, region)
        if on_demand is None:
            continue
        rng = random.Random(f"{seed}:{region}:{zone}:{instance_type}")  # noqa: S311 (made-up prices, not secrets)
        price = float(on_demand) * rng.uniform(0.25, 0.75)
        for step in range(days * 2, -1, -1):
            price = max(float(on_demand) * 0.1, min(float(on_demand), price * (1 + rng.gauss(0, 0.03))))
            steps.append(
                SpotPriceStep(
                    region=region,
                    availability_zone=zone,
                    instance_type=instance_type,
                    price=Decimal(f"{price:.6f}"),
                    observed_at=now - timedelta(hours=12 * step),
                    source=MarketSource.SYNTHETIC,
                )
            )
    SpotPriceStep.objects.bulk_create(steps, ignore_conflicts=True, batch_size=1000)
    return len(steps)
