"""Market data for the optimizer: Spot price steps from moto (kept, never duplicated), on-demand prices
from the Pricing API (botocore's Stubber: moto does not implement GetProducts) or the catalog with the
reason, placement scores marked missing with the reason where the call is not offered, and the Spot
Instance Advisor's bands read from a local HTTP server."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.stub import Stubber

from fleet import market
from fleet.choices import MarketSource
from fleet.models import CapacitySignal, OnDemandPrice, SpotPriceStep
from spotopt import aws
from tests.aws_fixtures import CUSTOMER_ACCOUNT, REGION, ROLE_ARN, moto  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


@pytest.fixture
def account(make_account, client_user):
    return make_account(client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN, regions=[REGION])


def test_spot_history_is_stored_as_steps_once(account):
    stored = market.spot_history_refresh(account=account, region=REGION, instance_types=["m5.large", "c5.large"])
    assert stored > 0
    steps = SpotPriceStep.objects.filter(region=REGION)
    assert set(steps.values_list("instance_type", flat=True)) == {"m5.large", "c5.large"}
    assert len(set(steps.values_list("availability_zone", flat=True))) > 1
    assert all(step.source == MarketSource.AWS for step in steps)
    assert market.spot_history_refresh(account=account, region=REGION, instance_types=["m5.large", "c5.large"]) == 0
    assert market.spot_history_refresh(account=account, region=REGION, instance_types=[]) == 0


def test_on_demand_prices_fall_back_to_the_catalog_with_the_reason(account):
    counts = market.on_demand_refresh(account=account, region=REGION, instance_types=["m5.large", "zz9.huge"])
    assert counts["catalog"] == 1 and counts["unknown"] == 1 and counts["pricing_api"] == 0
    assert "Not yet implemented" in counts["reason"] or "404" in counts["reason"]
    price = OnDemandPrice.objects.get(region=REGION, instance_type="m5.large")
    assert price.source == MarketSource.CATALOG and price.price == Decimal("0.096")


def _product(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "m5.large", "regionCode": REGION}},
            "terms": {
                "OnDemand": {
                    "X.JRTCKXETXF": {
                        "priceDimensions": {"X.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}
                    }
                }
            },
        }
    )


def test_on_demand_prices_from_the_pricing_api(account, monkeypatch):
    pricing = aws.client_for(account, "pricing", "us-east-1")
    stub = Stubber(pricing)
    stub.add_response(
        "get_products",
        {"PriceList": [_product("0.0960000000")], "FormatVersion": "aws_v1"},
        {"ServiceCode": "AmazonEC2", "Filters": market._filters(REGION, "m5.large"), "MaxResults": 10},
    )
    real = aws.client_for
    monkeypatch.setattr(aws, "client_for", lambda a, s, r=None: pricing if s == "pricing" else real(a, s, r))
    with stub:
        counts = market.on_demand_refresh(account=account, region=REGION, instance_types=["m5.large"])
    assert counts["pricing_api"] == 1 and not counts["reason"]
    row = OnDemandPrice.objects.get(instance_type="m5.large")
    assert (row.price, row.source) == (Decimal("0.096000"), MarketSource.PRICING_API)


def test_placement_scores_are_missing_with_the_reason_when_the_call_is_not_offered(account):
    result = market.placement_scores_refresh(account=account, region=REGION, instance_types=["m5.large", "c5.large"])
    assert result["scored"] == 0 and result["missing"] == 2 and result["reason"]
    for signal in CapacitySignal.objects.all():
        assert signal.placement_score is None and signal.placement_missing_reason == result["reason"]


def test_placement_scores_are_stored(account, monkeypatch):
    ec2 = aws.client_for(account, "ec2", REGION)
    stub = Stubber(ec2)
    stub.add_response("get_spot_placement_scores", {"SpotPlacementScores": [{"Region": REGION, "Score": 8}]})
    real = aws.client_for
    monkeypatch.setattr(aws, "client_for", lambda a, s, r=None: ec2 if s == "ec2" else real(a, s, r))
    with stub:
        market.placement_scores_refresh(account=account, region=REGION, instance_types=["m5.large"])
    signal = CapacitySignal.objects.get(instance_type="m5.large")
    assert signal.placement_score == 8 and signal.placement_missing_reason == ""


ADVISOR = {
    "ranges": [
        {"index": 0, "label": "<5%", "dots": 0, "max": 5},
        {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
        {"index": 2, "label": "10-15%", "dots": 2, "max": 16},
        {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
        {"index": 4, "label": ">20%", "dots": 4, "max": 100},
    ],
    "instance_types": {"m5.large": {"cores": 2, "ram_gb": 8.0, "emr": True}},
    "spot_advisor": {
        REGION: {"Linux": {"m5.large": {"s": 61, "r": 1}, "c5.large": {"s": 70, "r": 4}}, "Windows": {}},
        "ap-east-2": {"Linux": {"m5.large": {"s": 50, "r": 0}}},
    },
}


@pytest.fixture
def advisor_server():
    body = json.dumps(ADVISOR).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/spot-advisor-data.json"
    server.shutdown()


def test_the_advisor_bands_are_stored_for_the_regions_in_use(advisor_server, settings):
    result = market.advisor_refresh(url=advisor_server, regions=[REGION])
    assert result == {"types": 2, "regions": 1}
    bands = dict(CapacitySignal.objects.values_list("instance_type", "advisor_band_max"))
    assert bands == {"m5.large": 11, "c5.large": 100}
    settings.SPOT_ADVISOR_MAX_BYTES = 10
    with pytest.raises(ValueError, match="over 10 bytes"):
        market.advisor_refresh(url=advisor_server, regions=[REGION])
    with pytest.raises(ValueError, match="http"):
        market.advisor_refresh(url="file:///etc/passwd")


def test_the_hourly_job_covers_every_region_in_use(account, make_instance):
    make_instance(account, region=REGION, instance_type="m5.large")
    results = market.market_refresh_all()
    assert set(results) == {REGION}
    assert results[REGION]["spot_steps"] > 0 and results[REGION]["on_demand"]["catalog"] == 1
    assert results[REGION]["placement"]["missing"] == 1
