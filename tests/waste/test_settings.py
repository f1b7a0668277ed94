"""An account's waste settings: the grace period and the final snapshot, on the account page and in the API."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.api_contract import api_as, assert_error

pytestmark = pytest.mark.django_db


def test_the_settings_form_saves_the_waste_settings(client_user, make_account):
    account = make_account(client_user, regions=["us-east-1"])
    client = Client()
    client.force_login(client_user)
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "Waste grace period (days)" in page and "Snapshot a volume before deleting it" in page

    response = client.post(
        reverse("account_update", args=[account.pk]),
        {
            "account_name": account.account_name,
            "environment_type": "PROD",
            "regions": ["us-east-1"],
            "waste_grace_days": "14",
        },
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.waste_grace_days, account.waste_final_snapshot) == (14, False)  # the box was not ticked
    bad = client.post(
        reverse("account_update", args=[account.pk]),
        {
            "account_name": account.account_name,
            "environment_type": "PROD",
            "regions": ["us-east-1"],
            "waste_grace_days": "0",
        },
    )
    assert bad.status_code == 400
    account.refresh_from_db()
    assert account.waste_grace_days == 14


def test_the_api_shows_and_changes_them(client_user, make_account):
    account = make_account(client_user)
    url = f"/api/v1/accounts/{account.pk}/"
    api = api_as(client_user)
    assert api.get(url).json()["waste_grace_days"] == 7 and api.get(url).json()["waste_final_snapshot"] is True

    response = api.patch(url, {"waste_grace_days": 3, "waste_final_snapshot": False}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["waste_grace_days"], response.json()["waste_final_snapshot"]) == (3, False)
    assert_error(api.patch(url, {"waste_grace_days": 91}, format="json"), 400)
