"""The instance table and the API sort by price: unknown prices come last whichever the direction, and the
instance id keeps the order stable between equal prices."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PRICES = {
    "i-00000000000000001": "0.2",
    "i-00000000000000002": None,
    "i-00000000000000003": "0.05",
    "i-00000000000000004": "0.2",
}


@pytest.fixture
def priced(client_user, make_account, make_instance):
    account = make_account(client_user)
    for instance_id, price in PRICES.items():
        if price is None:
            make_instance(account, instance_id=instance_id, hourly_price=None, price_source="unknown")
        else:
            make_instance(account, instance_id=instance_id, hourly_price=Decimal(price), price_source="on_demand_list")
    return account


ASCENDING = ["i-00000000000000003", "i-00000000000000001", "i-00000000000000004", "i-00000000000000002"]
# Equal prices tie by instance id in the direction of the sort (the index read backwards).
DESCENDING = ["i-00000000000000004", "i-00000000000000001", "i-00000000000000003", "i-00000000000000002"]


@pytest.mark.parametrize(("ordering", "expected"), [("hourly_price", ASCENDING), ("-hourly_price", DESCENDING)])
def test_the_table_sorts_by_price_with_unknown_prices_last(client_user, priced, ordering, expected):
    client = Client()
    client.force_login(client_user)
    page = client.get(f"/fleet/?ordering={ordering}").content.decode()
    assert [instance_id for instance_id in sorted(PRICES, key=page.index)] == expected
    # The header toggles the direction and marks the column.
    header = page[page.index('aria-sort="') - 60 : page.index('aria-sort="') + 200]
    assert "Price" in header


@pytest.mark.parametrize(("ordering", "expected"), [("hourly_price", ASCENDING), ("-hourly_price", DESCENDING)])
def test_the_api_sorts_by_price_with_unknown_prices_last(client_user, priced, ordering, expected):
    api = APIClient()
    api.force_authenticate(client_user)
    results = api.get(f"/api/v1/instances/?ordering={ordering}").json()["results"]
    assert [row["instance_id"] for row in results] == expected
