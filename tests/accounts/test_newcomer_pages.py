"""What a newcomer's first hour tripped on, on the accounts side: a pending CloudFormation account is turned
into a keys account only when asked to, on its own page; connecting keys says truthfully what happened; the
accounts list shows each account's fleet (instances, hourly cost, last discovery) in a constant number of
queries; the operator, not the customer, reads what blocks the CloudFormation onboarding."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core import checks
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import AccountStatus, ConnectionMethod
from accounts.models import Account
from accounts.services import account_create_pending
from spotopt.admin_site import SpotoptAdminSite
from tests.aws_fixtures import create_user_with_keys, moto  # noqa: F401

pytestmark = pytest.mark.django_db

KEYS_ACCOUNT = "210987654321"


def keys_form(key_id: str, secret: str) -> dict:
    """The Connect page's keys tab, as a person fills it in."""
    return {
        "method": "keys",
        "access_key_id": key_id,
        "secret_access_key": secret,
        "environment_type": "PROD",
        "region": "us-east-1",
    }


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def platform(settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"


@pytest.mark.usefixtures("moto", "platform")
def test_a_pending_account_offers_keys_on_its_own_page_and_switches_only_when_asked(client_user, settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"
    pending = account_create_pending(user=client_user, account_name="Payments")
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "keys-user")
    client = signed_in(client_user)

    page = client.get(reverse("account_detail", args=[pending.pk])).content.decode()
    assert "Connect this account with access keys instead" in page
    assert reverse("account_connect_keys", args=[pending.pk]) in page

    # The Connect page's keys make a new account: the pending one keeps its External ID.
    client.post(reverse("account_connect"), keys_form(key_id, secret))
    pending.refresh_from_db()
    assert (pending.status, pending.connection_method) == (AccountStatus.PENDING, ConnectionMethod.IAM_ROLE)
    Account.objects.filter(account_id=KEYS_ACCOUNT).delete()

    response = client.post(
        reverse("account_connect_keys", args=[pending.pk]),
        {"access_key_id": key_id, "secret_access_key": secret},
        follow=True,
    )
    page = response.content.decode()
    assert (
        f"AWS account {KEYS_ACCOUNT} is connected with access keys. The CloudFormation External ID is no longer used."
        in page
    )
    pending.refresh_from_db()
    assert (pending.account_id, pending.connection_method, pending.external_id) == (
        KEYS_ACCOUNT,
        ConnectionMethod.ACCESS_KEYS,
        None,
    )
    assert secret not in page


@pytest.mark.usefixtures("moto", "platform")
def test_bad_keys_on_a_pending_account_come_back_on_its_form_and_change_nothing(client_user):
    pending = account_create_pending(user=client_user, account_name="Payments")
    response = signed_in(client_user).post(
        reverse("account_connect_keys", args=[pending.pk]), {"access_key_id": "AKIA123", "secret_access_key": "x" * 40}
    )
    assert response.status_code == 400
    assert "That does not look like an AWS access key id" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == AccountStatus.PENDING and pending.external_id


def test_a_read_only_user_is_offered_no_keys_form_and_may_not_post_one(make_user, client_user):
    from accounts.choices import Role

    pending = account_create_pending(user=client_user, account_name="Payments")
    colleague = make_user(Role.USER, team=client_user.team)
    page = signed_in(colleague).get(reverse("account_detail", args=[pending.pk])).content.decode()
    assert "Connect this account with access keys instead" not in page
    response = signed_in(colleague).post(reverse("account_connect_keys", args=[pending.pk]), {})
    assert response.status_code == 403


@pytest.mark.usefixtures("moto", "platform")
def test_keys_of_an_account_the_team_already_has_say_reconnected(client_user):
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "keys-user")
    client = signed_in(client_user)
    first = client.post(
        reverse("account_connect"),
        keys_form(key_id, secret),
        follow=True,
    )
    assert f"AWS account {KEYS_ACCOUNT} is connected with access keys." in first.content.decode()
    again = client.post(
        reverse("account_connect"),
        keys_form(key_id, secret),
        follow=True,
    )
    assert (
        f"AWS account {KEYS_ACCOUNT} was already connected to your team: it is reconnected with the new access keys."
        in again.content.decode()
    )
    assert Account.objects.filter(account_id=KEYS_ACCOUNT).count() == 1


def test_the_accounts_list_shows_each_fleet_in_a_constant_number_of_queries(client_user, make_account, make_instance):
    finished = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    busy = make_account(
        client_user, account_name="Busy", account_metadata={"discovery": {"finished_at": finished.isoformat()}}
    )
    for n in range(3):
        make_instance(busy, hourly_price=Decimal("0.100000"), price_source="on_demand_list", instance_type=f"m5.{n}x")
    make_instance(busy, is_active=False, hourly_price=Decimal("9"), price_source="on_demand_list")  # gone: not counted
    make_account(client_user, account_name="Idle")
    client = signed_in(client_user)

    page = client.get(reverse("account_list")).content.decode()
    busy_row = page[page.index(">Busy<") :].split("</tr>")[0]
    assert '<td class="num">3</td>' in busy_row
    assert "$0.30/h" in busy_row
    assert 'title="30 Nov 2026, 08:00 UTC"' in busy_row
    idle_row = page[page.index(">Idle<") :].split("</tr>")[0]
    assert '<td class="num">0</td>' in idle_row and "never" in idle_row

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("account_list")).status_code == 200
        return len(captured)

    few = queries()
    for n in range(20):
        make_instance(make_account(client_user, account_name=f"More {n}"))
    assert queries() == few


def test_the_admin_index_tells_the_operator_what_blocks_onboarding(client, super_admin, settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:sts::123456789012:user/moto"
    SpotoptAdminSite._problems = (0.0, [])  # forget the cached check results
    client.force_login(super_admin)
    page = client.get("/admin/").content.decode()
    assert "Platform setup: still to do" in page
    assert "PLATFORM_AWS_PRINCIPAL_ARN &#x27;arn:aws:sts::123456789012:user/moto&#x27; is not an IAM role" in page
    assert any(message.id == "spotopt.E001" for message in checks.run_checks(tags=["platform"]))
