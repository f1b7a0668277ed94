"""Hourly prices (fleet.pricing): the shipped on-demand catalog with region factors, spot prices recorded by
discovery, and the newest DescribeSpotPriceHistory entry per pool.

moto answers DescribeSpotPriceHistory with one constant price and timestamp, so the "newest entry wins"
rule is checked against a real EC2 client whose answers come from botocore's Stubber (no network).
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from fleet import pricing
from fleet.choices import PriceSource
from fleet.pricing import CATALOG_PATH, SPOT_PRODUCT, instance_hourly, latest_spot_prices, on_demand_hourly


def test_on_demand_price_is_the_catalog_price_times_the_region_factor():
    catalog = json.loads(CATALOG_PATH.read_text())
    base = Decimal(catalog["us-east-1"]["m5.large"])
    factor = Decimal(catalog["region_factors"]["eu-west-1"])
    assert on_demand_hourly("m5.large", "us-east-1") == base == Decimal("0.0960")
    assert on_demand_hourly("m5.large", "eu-west-1") == (base * factor).quantize(Decimal("0.0001"))
    assert on_demand_hourly("m5.large", "eu-west-1") == Decimal("0.1066")  # 0.096 x 1.11, rounded
    assert on_demand_hourly("c5.large", "sa-east-1") == Decimal("0.1352")  # 0.085 x 1.59, rounded


def test_a_region_without_a_factor_uses_the_us_east_1_price():
    assert on_demand_hourly("m5.large", "mars-north-1") == Decimal("0.0960")


def test_an_unknown_instance_type_has_no_price():
    assert on_demand_hourly("z99.mega", "us-east-1") is None
    assert instance_hourly(lifecycle="on-demand", instance_type="z99.mega", region="us-east-1") == (
        None,
        PriceSource.UNKNOWN,
    )


def test_every_catalog_price_and_factor_is_a_positive_decimal():
    catalog = json.loads(CATALOG_PATH.read_text())
    assert all(Decimal(price) > 0 for price in catalog["us-east-1"].values())
    assert all(Decimal(factor) >= 1 for factor in catalog["region_factors"].values())
    assert catalog["region_factors"]["us-east-1"] == "1.00"


def test_on_demand_instances_are_priced_from_the_catalog_whatever_the_spot_market_says():
    assert instance_hourly(lifecycle="on-demand", instance_type="t3.micro", region="us-east-1", spot_price="9") == (
        Decimal("0.0104"),
        PriceSource.ON_DEMAND_LIST,
    )


def test_spot_instances_are_priced_from_their_pools_spot_price():
    price, source = instance_hourly(lifecycle="spot", instance_type="m5.large", region="eu-west-1", spot_price="0.0312")
    assert (price, source) == (Decimal("0.0312"), PriceSource.SPOT_MARKET)
    assert isinstance(price, Decimal)


@pytest.mark.parametrize("spot_price", ["", "n/a", "-1", "NaN"])
def test_a_spot_instance_without_a_usable_price_is_unknown_not_free(spot_price):
    # Not the on-demand price either: a spot instance's price is only what DescribeSpotPriceHistory said.
    assert instance_hourly(lifecycle="spot", instance_type="m5.large", region="us-east-1", spot_price=spot_price) == (
        None,
        PriceSource.UNKNOWN,
    )


# --- latest_spot_prices against a stubbed EC2 client ---------------------------------------------------

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def entry(instance_type, zone, price, minutes_ago):
    return {
        "AvailabilityZone": zone,
        "InstanceType": instance_type,
        "ProductDescription": SPOT_PRODUCT,
        "SpotPrice": price,
        "Timestamp": T0 - timedelta(minutes=minutes_ago),
    }


@pytest.fixture
def ec2():
    client = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def test_the_newest_price_of_each_pool_wins_across_pages(ec2):
    pools = {("m5.large", "eu-west-1a"), ("m5.large", "eu-west-1b"), ("c5.large", "eu-west-1a")}
    expected = {"InstanceTypes": ["c5.large", "m5.large"], "ProductDescriptions": [SPOT_PRODUCT]}
    ec2.stubber.add_response(
        "describe_spot_price_history",
        {
            "SpotPriceHistory": [
                entry("m5.large", "eu-west-1a", "0.0400", minutes_ago=60),
                entry("m5.large", "eu-west-1a", "0.0350", minutes_ago=5),  # newest of this pool
                entry("m5.large", "eu-west-1b", "0.0300", minutes_ago=30),
                entry("c5.large", "eu-west-1a", "0.0330", minutes_ago=90),
                entry("m5.large", "eu-west-1c", "0.0010", minutes_ago=1),  # a pool nobody runs in
            ],
            "NextToken": "page-2",
        },
        expected,
    )
    ec2.stubber.add_response(
        "describe_spot_price_history",
        {
            "SpotPriceHistory": [
                entry("m5.large", "eu-west-1b", "0.0310", minutes_ago=10),  # newer than page 1's
                entry("m5.large", "eu-west-1a", "0.0900", minutes_ago=120),  # older: ignored
                entry("c5.large", "eu-west-1a", "0.0320", minutes_ago=91),  # older: ignored
            ]
        },
        {**expected, "NextToken": "page-2"},
    )

    assert latest_spot_prices(ec2, pools) == {
        ("m5.large", "eu-west-1a"): "0.0350",
        ("m5.large", "eu-west-1b"): "0.0310",
        ("c5.large", "eu-west-1a"): "0.0330",
    }


def test_a_pool_without_history_has_no_price(ec2):
    ec2.stubber.add_response(
        "describe_spot_price_history",
        {"SpotPriceHistory": [entry("m5.large", "eu-west-1a", "0.0400", minutes_ago=1)]},
        {"InstanceTypes": ["g5.xlarge", "m5.large"], "ProductDescriptions": [SPOT_PRODUCT]},
    )
    prices = latest_spot_prices(ec2, {("m5.large", "eu-west-1a"), ("g5.xlarge", "eu-west-1a")})
    assert prices == {("m5.large", "eu-west-1a"): "0.0400"}


def test_no_pools_means_no_call(ec2):
    # The Stubber fails any call it was not told about.
    assert latest_spot_prices(ec2, set()) == {}


def test_the_catalog_is_read_once(monkeypatch):
    pricing._catalog.cache_clear()
    reads = []
    real_read = type(CATALOG_PATH).read_text

    def counting_read(path, *args, **kwargs):
        reads.append(path)
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(type(CATALOG_PATH), "read_text", counting_read)
    on_demand_hourly("m5.large", "us-east-1")
    on_demand_hourly("c5.large", "eu-west-1")
    assert reads == [CATALOG_PATH]
