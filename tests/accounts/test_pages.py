"""The customer-facing accounts pages: list, connect (CloudFormation role or access keys), detail (steps,
live status, management) and remove, through the Django test client.

Both onboarding flows run end to end against moto (in-process `mock_aws`); django-q runs in sync mode in the
test settings, so the discovery a verify queues runs inline when its transaction commits (inside
`django_capture_on_commit_callbacks(execute=True)`).
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
from accounts.forms import AccountSettingsForm
from accounts.models import Account
from accounts.services import account_connect_access_keys
from spotopt.errors import DomainError
from tests.aws_fixtures import (
    CUSTOMER_ACCOUNT,
    create_user_with_keys,
    launch_instances,
    moto,  # noqa: F401
)
from tests.helpers import page_link, walk_pages

pytestmark = pytest.mark.django_db

PLATFORM_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"
ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/SpotOptimizerCrossAccountRole"
KEYS_ACCOUNT = "210987654321"
# A syntactically valid key pair AWS has never issued.
FAKE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"


@pytest.fixture(autouse=True)
def platform_principal(settings):
    """The platform's AWS principal comes from settings: no test page asks STS who the platform is unless it
    runs against moto (moto's own identity is not a principal a trust policy can name)."""
    settings.PLATFORM_AWS_PRINCIPAL_ARN = PLATFORM_ARN
    settings.CLOUDFORMATION_TEMPLATE_URL = ""


@pytest.fixture
def aws(request, settings):
    """moto in-process, with the platform principal still from settings."""
    request.getfixturevalue("moto")
    settings.PLATFORM_AWS_PRINCIPAL_ARN = PLATFORM_ARN


def html(response) -> str:
    return response.content.decode()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows():
    return list(Account.objects.order_by("pk").values())


def pending_account(make_account, user, **overrides):
    n = Account.objects.count() + 1
    fields = {
        "account_id": f"pending-00000000-0000-0000-0000-{n:012d}",
        "status": AccountStatus.PENDING,
        "role_arn": "",
        "external_id": f"spot-optimizer-pending-{n}",
    }
    fields.update(overrides)
    return make_account(user, **fields)


def failed_account(make_account, user, message="us-east-1: AWS denied DescribeInstances.", **overrides):
    fields = {
        "status": AccountStatus.FAILED,
        "account_metadata": {
            "last_error": {"message": message, "code": "discovery_failed"},
            "discovery": {"state": "failed", "regions_total": 1, "regions_done": 1, "errors": {"us-east-1": message}},
        },
    }
    fields.update(overrides)
    return make_account(user, **fields)


def action_forms(page: str) -> list[str]:
    """The actions of every POST form on the page except sign-out."""
    return [a for a in re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page) if a != "/logout/"]


# ======================================================================================================
# Who may open what
# ======================================================================================================

PAGES = ["account_list", "account_connect"]
ACCOUNT_PAGES = ["account_detail", "account_delete"]
ACCOUNT_POSTS = ["account_verify", "account_update", "account_retry", "account_rediscover", "account_delete"]


def post_data(name):
    return {
        "account_verify": {"role_arn": ROLE_ARN},
        "account_update": {"account_name": "Renamed", "environment_type": "PROD"},
    }.get(name, {})


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, name):
    url = reverse(name)
    for response in (client.get(url), client.post(url, {"method": "role", "account_name": "X"})):
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"
    assert not Account.objects.exists()


@pytest.mark.parametrize("name", sorted({*ACCOUNT_PAGES, *ACCOUNT_POSTS}))
def test_anonymous_visitors_are_sent_to_sign_in_from_account_urls(client, client_user, make_account, name):
    account = make_account(client_user)
    before = rows()
    url = reverse(name, args=[account.pk])
    for response in (client.get(url), client.post(url, post_data(name))):
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"
    assert rows() == before


@pytest.mark.parametrize("name", sorted({*ACCOUNT_PAGES, *ACCOUNT_POSTS}))
def test_another_tenants_account_is_not_found_on_every_page_and_post(client_user, other_client, make_account, name):
    theirs = failed_account(make_account, other_client)
    before = rows()
    client = signed_in(client_user)
    url = reverse(name, args=[theirs.pk])

    assert client.get(url).status_code == 404
    if name in ACCOUNT_POSTS:
        assert client.post(url, post_data(name)).status_code == 404
    assert rows() == before
    assert theirs.account_name not in html(client.get(reverse("account_list")))


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_read_only_roles_cannot_connect(make_user, role):
    client = signed_in(make_user(role))

    assert client.get(reverse("account_connect")).status_code == 403
    response = client.post(reverse("account_connect"), {"method": "role", "account_name": "X", "region": "us-east-1"})
    assert response.status_code == 403
    response = client.post(
        reverse("account_connect"),
        {"method": "keys", "access_key_id": FAKE_KEY_ID, "secret_access_key": FAKE_SECRET, "region": "us-east-1"},
    )
    assert response.status_code == 403
    assert not Account.objects.exists()


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
@pytest.mark.parametrize("name", ACCOUNT_POSTS)
def test_read_only_roles_get_403_on_every_post_of_an_account_they_see(make_user, make_account, role, name):
    reader = make_user(role)
    # The read-only user's own account; a lab user sees LAB accounts of every tenant.
    owner = reader if role == Role.USER else make_user(Role.CLIENT)
    account = failed_account(make_account, owner, environment_type=EnvironmentType.LAB)
    before = rows()
    client = signed_in(reader)

    assert client.get(reverse("account_detail", args=[account.pk])).status_code == 200
    assert client.post(reverse(name, args=[account.pk]), post_data(name)).status_code == 403
    assert rows() == before


def test_a_lab_user_does_not_see_production_accounts(lab_user, client_user, make_account):
    production = make_account(client_user, environment_type=EnvironmentType.PROD)
    client = signed_in(lab_user)
    assert client.get(reverse("account_detail", args=[production.pk])).status_code == 404
    assert client.post(reverse("account_retry", args=[production.pk])).status_code == 404


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_read_only_roles_see_no_action_buttons(make_user, make_account, role):
    reader = make_user(role)
    owner = reader if role == Role.USER else make_user(Role.CLIENT)
    failed = failed_account(make_account, owner, environment_type=EnvironmentType.LAB)
    pending = pending_account(make_account, owner, environment_type=EnvironmentType.LAB)
    client = signed_in(reader)

    listing = html(client.get(reverse("account_list")))
    assert failed.account_name in listing and pending.account_name in listing
    assert action_forms(listing) == []
    assert "Remove" not in listing and "Retry" not in listing and "/accounts/connect/" not in listing

    for account in (failed, pending):
        page = html(client.get(reverse("account_detail", args=[account.pk])))
        assert action_forms(page) == []
        for label in ("Retry", "Re-run discovery", "Remove account", "Save settings", "Verify and connect"):
            assert label not in page
    # The pending account's steps are there to read, with the note instead of the verify form.
    page = html(client.get(reverse("account_detail", args=[pending.pk])))
    assert pending.external_id in page
    assert "The account owner pastes the Role ARN here" in page
    assert client.get(reverse("account_delete", args=[failed.pk])).status_code == 403


@pytest.mark.parametrize(
    ("name", "needs_account"),
    [("account_connect", False), *[(name, True) for name in ACCOUNT_POSTS]],
)
def test_every_post_needs_the_csrf_token(client_user, make_account, name, needs_account):
    account = failed_account(make_account, client_user)
    before = rows()
    client = Client(enforce_csrf_checks=True)
    client.force_login(client_user)
    url = reverse(name, args=[account.pk]) if needs_account else reverse(name)

    response = client.post(url, post_data(name) or {"method": "role", "account_name": "X", "region": "us-east-1"})

    assert response.status_code == 403
    assert rows() == before


def test_the_forms_on_the_pages_carry_the_csrf_token(client_user, make_account):
    account = failed_account(make_account, client_user)
    client = signed_in(client_user)
    for url in (
        reverse("account_list"),
        reverse("account_connect"),
        reverse("account_detail", args=[account.pk]),
        reverse("account_delete", args=[account.pk]),
    ):
        page = html(client.get(url))
        forms = re.findall(r'<form[^>]*method="post".*?</form>', page, re.S)
        assert forms, url
        assert all('name="csrfmiddlewaretoken"' in form for form in forms), url


# ======================================================================================================
# The list
# ======================================================================================================


def test_the_list_shows_each_account_with_what_a_person_looks_for(client_user, other_client, make_account):
    active = make_account(client_user, account_name="Payments prod", regions=["us-east-1", "eu-west-1"])
    failed = failed_account(
        make_account,
        client_user,
        account_name="Analytics lab",
        environment_type=EnvironmentType.LAB,
        connection_method=ConnectionMethod.ACCESS_KEYS,
        role_arn="",
        external_id=None,
        message="us-east-1: AWS denied DescribeInstances while trying to list the EC2 instances.",
    )
    pending = pending_account(make_account, client_user, account_name="New account")
    make_account(other_client, account_name="Somebody else's")

    response = signed_in(client_user).get(reverse("account_list"))

    assert response.status_code == 200
    page = html(response)
    assert '<h1 class="page-title">AWS accounts</h1>' in page
    assert "Somebody else's" not in page
    rows_html = re.findall(r"<tr>.*?</tr>", page.split("<tbody>")[1], re.S)
    assert [re.search(r"accounts-table__name[^>]*>([^<]+)<", row).group(1) for row in rows_html] == [
        "Analytics lab",
        "New account",
        "Payments prod",
    ]
    lab_row, pending_row, active_row = rows_html
    assert f"<code>{active.account_id}</code>" in active_row
    assert (
        "Production" in active_row
        and "IAM role" in active_row
        and '<span class="nowrap">us-east-1</span>, <span class="nowrap">eu-west-1</span>' in active_row
    )
    assert '<span class="badge badge--ok">Active</span>' in active_row
    assert "pending" in pending_row and '<span class="badge badge--warn">Pending</span>' in pending_row
    assert "Lab" in lab_row and "Access keys" in lab_row
    assert '<span class="badge badge--error">Failed</span>' in lab_row
    assert "AWS denied DescribeInstances" in lab_row
    # Actions: open each; retry only the failed one; remove each (through the confirmation page).
    assert f'href="{reverse("account_detail", args=[active.pk])}"' in active_row
    assert action_forms(page) == [reverse("account_retry", args=[failed.pk])]
    for account in (active, failed, pending):
        assert f'href="{reverse("account_delete", args=[account.pk])}"' in page
    assert "Owner" not in page  # a customer sees only their own accounts
    assert f'href="{reverse("account_connect")}"' in page


def test_the_list_shortens_long_errors_and_region_lists(client_user, make_account):
    long_message = "AWS could not be reached while trying to list the EC2 instances. " * 5
    failed_account(
        make_account,
        client_user,
        message=long_message,
        regions=["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"],
    )
    page = html(signed_in(client_user).get(reverse("account_list")))
    assert f'title="{long_message}"' in page  # the whole message on hover
    assert long_message not in page.replace(f'title="{long_message}"', "")
    assert '<span class="nowrap">us-east-1</span>, <span class="nowrap">us-east-2</span>' in page
    assert '<span class="muted nowrap">+3 more</span>' in page


def test_admins_see_every_tenant_with_the_owner(admin_user, client_user, other_client, make_account, make_user):
    make_account(client_user, account_name="Mine")
    make_account(other_client, account_name="Theirs")
    page = html(signed_in(admin_user).get(reverse("account_list")))
    assert "Mine" in page and "Theirs" in page
    assert '<th scope="col">Owner</th>' in page
    assert client_user.full_name in page and other_client.full_name in page


def test_a_new_customer_sees_how_to_start(client_user):
    response = signed_in(client_user).get(reverse("account_list"))
    page = html(response)
    assert response.status_code == 200
    assert "No AWS account connected yet" in page
    assert (
        f'<a class="button button--primary" href="{reverse("account_connect")}">Connect your first AWS account</a>'
        in page
    )
    assert "<table" not in page


def test_a_read_only_user_without_accounts_is_told_whom_to_ask(readonly_user):
    page = html(signed_in(readonly_user).get(reverse("account_list")))
    assert "Ask your account owner to connect an AWS account for you" in page
    assert reverse("account_connect") not in page


def test_a_lab_user_without_lab_accounts_is_told_what_they_see(lab_user, client_user, make_account):
    make_account(client_user, environment_type=EnvironmentType.PROD)
    page = html(signed_in(lab_user).get(reverse("account_list")))
    assert "No Lab account yet" in page
    assert reverse("account_connect") not in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failed"}, ["Broken"]),
        ({"status": "active"}, ["Payments", "Sandbox"]),
        ({"environment_type": "LAB"}, ["Sandbox"]),
        ({"connection_method": "access_keys"}, ["Broken"]),
        ({"q": "pay"}, ["Payments"]),
        ({"q": "210987654321"}, ["Broken"]),
        ({"q": "sand", "status": "active", "environment_type": "LAB"}, ["Sandbox"]),
    ],
)
def test_the_list_filters(client_user, make_account, query, expected):
    make_account(client_user, account_name="Payments")
    make_account(client_user, account_name="Sandbox", environment_type=EnvironmentType.LAB)
    failed_account(
        make_account,
        client_user,
        account_name="Broken",
        account_id=KEYS_ACCOUNT,
        connection_method=ConnectionMethod.ACCESS_KEYS,
        role_arn="",
        external_id=None,
    )
    page = html(signed_in(client_user).get(reverse("account_list"), query))
    assert re.findall(r'class="accounts-table__name"[^>]*>([^<]+)<', page) == expected
    # The filter bar shows what is applied and offers to clear it.
    for value in query.values():
        assert f'value="{value}"' in page
    assert f'<a class="button button--quiet" href="{reverse("account_list")}">Clear</a>' in page


def test_filters_without_a_match_say_so(client_user, make_account):
    make_account(client_user, account_name="Payments")
    page = html(signed_in(client_user).get(reverse("account_list"), {"q": "nothing-like-this"}))
    assert "No account matches these filters" in page
    assert "No AWS account connected yet" not in page


def test_an_unknown_filter_value_is_reported_and_ignored(client_user, make_account):
    make_account(client_user, account_name="Payments")
    page = html(signed_in(client_user).get(reverse("account_list"), {"status": "exploded"}))
    assert "Some filters were ignored" in page
    assert "Payments" in page


def test_the_list_pages_25_at_a_time_and_keeps_the_filters(client_user, make_account):
    for n in range(30):
        make_account(client_user, account_name=f"Account {n:02d}")
    make_account(client_user, account_name="Lab one", environment_type=EnvironmentType.LAB)
    client = signed_in(client_user)

    def names(response):
        return re.findall(r'class="accounts-table__name"[^>]*>([^<]+)<', html(response))

    pages = walk_pages(client, reverse("account_list"), {"environment_type": "PROD"}, names)
    assert [rows for rows, _ in pages] == [
        [f"Account {n:02d}" for n in range(25)],
        [f"Account {n:02d}" for n in range(25, 30)],
    ]
    first, second = (response for _, response in pages)
    assert "25 of 30 accounts" in html(first)
    assert page_link(first, "next").startswith("?environment_type=PROD&cursor=")
    assert page_link(second, "prev").startswith("?environment_type=PROD&cursor=")
    assert names(client.get(reverse("account_list") + page_link(second, "prev"))) == pages[0][0]
    # A cursor the list did not give out shows the first page.
    assert names(client.get(reverse("account_list"), {"environment_type": "PROD", "cursor": "x"})) == pages[0][0]


def test_the_list_makes_the_same_number_of_queries_for_2_or_12_accounts(admin_user, make_user, make_account):
    owners = [make_user(Role.CLIENT) for _ in range(3)]

    def queries_for_a_page_of(count):
        Account.objects.all().delete()
        for n in range(count):
            owner = owners[n % len(owners)]
            if n % 3 == 0:
                failed_account(make_account, owner)
            else:
                make_account(owner, regions=["us-east-1", "eu-west-1"])
        client = signed_in(admin_user)  # the owner column reads each row's user
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("account_list"))
        assert response.status_code == 200
        assert html(response).count('class="accounts-table__name"') == count
        return len(queries)

    assert queries_for_a_page_of(2) == queries_for_a_page_of(12)


# ======================================================================================================
# Connect
# ======================================================================================================


def test_the_connect_page_has_two_accessible_tabs(client_user, settings):
    settings.SPOTOPT_REGIONS = ["us-east-1", "eu-west-1", "ap-south-1"]
    client = signed_in(client_user)

    page = html(client.get(reverse("account_connect")))
    assert '<div class="tabs__list" role="tablist" aria-label="How to connect">' in page
    role_tab = re.search(r'<a class="tabs__tab" role="tab" id="tab-role"[^>]*>', page, re.S).group(0)
    keys_tab = re.search(r'<a class="tabs__tab" role="tab" id="tab-keys"[^>]*>', page, re.S).group(0)
    assert 'aria-selected="true"' in role_tab and 'href="?method=role"' in role_tab
    assert 'aria-selected="false"' in keys_tab and 'href="?method=keys"' in keys_tab
    assert re.search(r'id="panel-role" aria-labelledby="tab-role" tabindex="0">', page)
    assert re.search(r'id="panel-keys" aria-labelledby="tab-keys" tabindex="0" hidden>', page)
    assert "CloudFormation role" in page and "Recommended" in page
    # The role form: name, PROD/LAB, home region, regions to scan from the settings.
    for label in ("Account name", "Environment", "Home region", "Regions to scan"):
        assert label in page
    for region in settings.SPOTOPT_REGIONS:
        assert f'type="checkbox" name="regions" value="{region}"' in page
    assert "eu-west-2" not in page
    assert 'src="/static/js/onboarding.js"' in page

    # Without JavaScript, ?method=keys opens the second tab.
    page = html(client.get(reverse("account_connect"), {"method": "keys"}))
    assert re.search(r'id="panel-role" aria-labelledby="tab-role" tabindex="0" hidden>', page)
    assert re.search(r'id="panel-keys" aria-labelledby="tab-keys" tabindex="0">', page)
    secret = re.search(r'<input type="password" name="secret_access_key"[^>]*>', page).group(0)
    assert 'autocomplete="off"' in secret
    assert re.search(r'<input type="text" name="access_key_id"[^>]*autocomplete="off"', page)


def test_the_role_form_creates_a_pending_account_and_shows_its_next_steps(client_user):
    client = signed_in(client_user)
    response = client.post(
        reverse("account_connect"),
        {
            "method": "role",
            "account_name": "  Payments production ",
            "environment_type": "LAB",
            "region": "eu-west-1",
            "regions": ["eu-west-1", "us-east-1"],
        },
    )

    account = Account.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("account_detail", args=[account.pk])
    assert account.user == client_user
    assert account.status == AccountStatus.PENDING
    assert account.account_name == "Payments production"
    assert account.environment_type == EnvironmentType.LAB
    assert account.region == "eu-west-1"
    assert account.regions == ["eu-west-1", "us-east-1"]

    page = html(client.get(response.url))
    assert "is waiting to be connected" in page  # the message after the redirect
    assert "Finish connecting: three steps" in page
    assert account.external_id in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"account_name": ""}, "This field is required."),
        ({"account_name": "   "}, "This field is required."),
        ({"account_name": "X", "region": "mars-north-1"}, "Select a valid choice."),
        ({"account_name": "X", "regions": ["mars-north-1"]}, "Select a valid choice."),
        ({"account_name": "X", "environment_type": "STAGING"}, "Select a valid choice."),
    ],
)
def test_the_role_form_shows_what_is_wrong_and_creates_nothing(client_user, data, message):
    form = {"method": "role", "environment_type": "PROD", "region": "us-east-1", **data}
    response = signed_in(client_user).post(reverse("account_connect"), form)

    assert response.status_code == 400
    page = html(response)
    assert message in page
    assert 'aria-invalid="true"' in page
    assert re.search(r'id="panel-role" aria-labelledby="tab-role" tabindex="0">', page)  # the same tab, open
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    ("key_id", "secret", "message"),
    [
        ("not-a-key", FAKE_SECRET, "That does not look like an AWS access key id (AKIA… or ASIA…)."),
        (FAKE_KEY_ID, "too-short", "The secret access key is incomplete."),
    ],
)
def test_malformed_keys_are_refused_on_the_form_and_the_secret_is_not_sent_back(client_user, key_id, secret, message):
    response = signed_in(client_user).post(
        reverse("account_connect"),
        {
            "method": "keys",
            "access_key_id": key_id,
            "secret_access_key": secret,
            "account_name": "Keys",
            "environment_type": "PROD",
            "region": "us-east-1",
        },
    )

    assert response.status_code == 400
    page = html(response)
    assert message in page
    assert secret not in page
    assert re.search(r'<input type="password" name="secret_access_key"(?![^>]*value=)[^>]*>', page)
    assert f'value="{key_id}"' in page  # the key id is kept so it can be corrected
    assert re.search(r'id="panel-keys" aria-labelledby="tab-keys" tabindex="0">', page)
    assert not Account.objects.exists()


def test_aws_unreachable_is_shown_on_the_keys_form(client_user, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1
    response = signed_in(client_user).post(
        reverse("account_connect"),
        {
            "method": "keys",
            "access_key_id": FAKE_KEY_ID,
            "secret_access_key": FAKE_SECRET,
            "environment_type": "PROD",
            "region": "us-east-1",
        },
    )
    assert response.status_code == 400
    page = html(response)
    assert "AWS could not be reached while trying to check the access keys" in page
    assert FAKE_SECRET not in page
    assert not Account.objects.exists()


# ======================================================================================================
# Detail
# ======================================================================================================


def test_a_pending_account_shows_the_cloudformation_steps(client_user, make_account):
    account = pending_account(make_account, client_user, account_name="Payments")
    client = signed_in(client_user)

    response = client.get(reverse("account_detail", args=[account.pk]))

    assert response.status_code == 200
    page = html(response)
    assert '<h1 class="page-title">Payments</h1>' in page
    assert "AWS account not known yet" in page
    assert '<span class="badge badge--warn badge--large" data-status-badge>Pending</span>' in page
    # Step 1: the External ID, with a copy button JavaScript reveals.
    assert f'<code class="copy-field__value" id="external-id">{account.external_id}</code>' in page
    assert 'data-copy-target="external-id" hidden>Copy</button>' in page
    # Step 2: the template (JSON and YAML through the API, which takes the session), no quick-create link
    # without a published template: the console instructions instead; the platform principal.
    template_url = f"http://testserver/api/v1/onboarding/{account.pk}/template/"
    assert f'href="{template_url}?output=json" download' in page
    assert f'href="{template_url}?output=yaml" download' in page
    assert f'data-copy-url="{template_url}?output=json" hidden>Copy template</button>' in page
    assert "CloudFormation → Create stack → With new resources → Upload a template file" in page
    assert "quick-create" not in page
    assert PLATFORM_ARN in page
    # Step 3: the verify form with the expected form of the ARN.
    assert f'action="{reverse("account_verify", args=[account.pk])}"' in page
    assert 'placeholder="arn:aws:iam::123456789012:role/SpotOptimizerCrossAccountRole"' in page
    # The live status panel polls the discovery API; without JavaScript there is a Refresh link.
    assert f'data-progress-url="/api/v1/onboarding/{account.pk}/discovery/"' in page
    assert 'data-poll="true"' in page
    assert f'<a href="{reverse("account_detail", args=[account.pk])}" data-refresh-link>Refresh</a>' in page
    assert '<script id="account-status-guide" type="application/json">' in page

    # The download links work with the page's session.
    for output, content_type in (("json", "application/json"), ("yaml", "application/x-yaml")):
        download = client.get(f"/api/v1/onboarding/{account.pk}/template/", {"output": output})
        assert download.status_code == 200
        assert download["Content-Type"] == content_type
        assert f'attachment; filename="spotopt-{account.external_id}.{output}"' == download["Content-Disposition"]
        assert account.external_id in download.content.decode()


def test_a_published_template_gives_the_console_quick_create_link(client_user, make_account, settings):
    settings.CLOUDFORMATION_TEMPLATE_URL = "https://spotopt-templates.s3.amazonaws.com/onboarding.json"
    account = pending_account(make_account, client_user, region="eu-west-1")
    page = html(signed_in(client_user).get(reverse("account_detail", args=[account.pk])))
    link = re.search(
        r'<a class="button button--primary" href="([^"]+)"[^>]*>Open the AWS console quick-create page', page
    )
    assert link
    url = link.group(1).replace("&amp;", "&")
    assert url.startswith("https://console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?")
    assert f"param_ExternalId={account.external_id}" in url
    assert "Upload a template file" not in page


def test_the_steps_say_so_when_the_platform_cannot_build_the_template(client_user, make_account, settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:sts::123456789012:user/moto"  # not a principal a role can trust
    account = pending_account(make_account, client_user)
    response = signed_in(client_user).get(reverse("account_detail", args=[account.pk]))
    assert response.status_code == 200
    page = html(response)
    # The customer learns that the operator has to finish the setup; the setting's name is for the operator.
    assert "spotopt&#x27;s operator has not finished setting up the platform&#x27;s AWS identity" in page
    assert "PLATFORM_AWS_PRINCIPAL_ARN" not in page
    assert "Download template" not in page
    assert account.external_id in page  # the External ID is still shown


def test_an_active_account_shows_its_discovery_and_management(client_user, make_account):
    account = make_account(
        client_user,
        account_name="Payments",
        regions=["us-east-1", "eu-west-1"],
        account_metadata={
            "discovery": {
                "state": "succeeded",
                "regions_total": 2,
                "regions_done": 2,
                "instances_found": 14,
                "regions": {"us-east-1": 12, "eu-west-1": 2},
                "errors": {},
            }
        },
    )
    page = html(signed_in(client_user).get(reverse("account_detail", args=[account.pk])))

    assert f"AWS account <code>{account.account_id}</code>" in page
    assert '<span class="badge badge--ok badge--large" data-status-badge>Active</span>' in page
    assert "Discovery finished." in page
    assert '<progress class="progress" data-progress max="2" value="2"' in page
    assert "<dd data-instances-found>14</dd>" in page
    assert "<dd data-discovery-state>Finished</dd>" in page
    assert re.search(
        r'data-region="us-east-1">\s*<th scope="row">us-east-1</th>\s*<td class="num" data-region-result>12</td>', page
    )
    assert 'data-poll="false"' in page  # final: nothing to poll
    assert "Finish connecting" not in page
    assert re.search(r"<dt>Role ARN</dt><dd><code[^>]*>" + re.escape(account.role_arn), page)
    assert account.external_id in page
    # Management: settings, re-run discovery; no retry for a healthy account.
    forms = action_forms(page)
    assert reverse("account_update", args=[account.pk]) in forms
    assert reverse("account_rediscover", args=[account.pk]) in forms
    assert re.search(r'<div class="action" data-show-for="failed[^"]*" hidden>', page)  # no Retry
    assert f'href="{reverse("account_delete", args=[account.pk])}">Remove account…</a>' in page


def test_a_failed_account_shows_its_error_and_what_to_do(client_user, make_account):
    message = "us-east-1: AWS denied DescribeInstances while trying to list the EC2 instances in us-east-1."
    account = failed_account(make_account, client_user, message=message)
    page = html(signed_in(client_user).get(reverse("account_detail", args=[account.pk])))

    assert '<span class="badge badge--error badge--large" data-status-badge>Failed</span>' in page
    assert "The last attempt failed. Fix what the error below says, then choose Retry." in page
    error_box = re.search(
        r'<div class="alert alert--error status-panel__error" data-last-error>(.*?)</div>', page, re.S
    )
    assert error_box and message in error_box.group(1)
    assert re.search(r'<div class="action" data-show-for="failed[^"]*">', page)  # Retry shown
    assert reverse("account_retry", args=[account.pk]) in action_forms(page)
    assert re.search(r'<div class="action" data-show-for="connected active" hidden>', page)
    # A failed role account can check its stack and verify a corrected ARN.
    assert "Check the CloudFormation stack and the role" in page
    assert f'value="{account.role_arn}"' in page


def test_an_access_keys_account_never_shows_its_secrets(client_user, make_account):
    account = make_account(client_user, connection_method=ConnectionMethod.ACCESS_KEYS, role_arn="", external_id=None)
    account.set_access_keys(FAKE_KEY_ID, FAKE_SECRET)
    account.save()
    client = signed_in(client_user)
    for url in (
        reverse("account_detail", args=[account.pk]),
        reverse("account_list"),
        reverse("account_delete", args=[account.pk]),
    ):
        page = html(client.get(url))
        for secret in (FAKE_KEY_ID, FAKE_SECRET, account.access_key_id_encrypted, account.secret_access_key_encrypted):
            assert secret not in page, url
    page = html(client.get(reverse("account_detail", args=[account.pk])))
    assert "<dt>Access keys</dt><dd>Stored encrypted; never shown</dd>" in page
    assert "External ID" not in page
    assert f'href="{reverse("account_connect")}?method=keys">Replace the access keys</a>' in page


def test_an_admin_sees_the_owner_on_the_detail_page(admin_user, client_user, make_account):
    account = make_account(client_user)
    page = html(signed_in(admin_user).get(reverse("account_detail", args=[account.pk])))
    assert f"<dt>Owner</dt><dd>{client_user.full_name} ({client_user.email})</dd>" in page


def test_a_get_of_an_action_url_shows_the_account(client_user, make_account):
    account = make_account(client_user)
    response = signed_in(client_user).get(reverse("account_retry", args=[account.pk]))
    assert response.status_code == 302
    assert response.url == reverse("account_detail", args=[account.pk])


# ======================================================================================================
# Flow (a): CloudFormation role, end to end against moto
# ======================================================================================================


@pytest.mark.usefixtures("aws")
def test_cloudformation_flow_through_the_pages(client_user, django_capture_on_commit_callbacks):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    launch_instances(CUSTOMER_ACCOUNT, "eu-west-1", 1)
    client = signed_in(client_user)

    # 1. The connect form makes a pending account.
    response = client.post(
        reverse("account_connect"),
        {
            "method": "role",
            "account_name": "Payments",
            "environment_type": "PROD",
            "region": "us-east-1",
            "regions": ["us-east-1", "eu-west-1"],
        },
    )
    account = Account.objects.get()
    detail_url = reverse("account_detail", args=[account.pk])
    assert response.url == detail_url

    # 2. Its page shows the External ID and the template links.
    page = html(client.get(detail_url))
    assert account.external_id in page
    assert f"/api/v1/onboarding/{account.pk}/template/?output=json" in page
    assert f"/api/v1/onboarding/{account.pk}/template/?output=yaml" in page

    # A malformed ARN: the clear message on the form, nothing changes.
    response = client.post(reverse("account_verify", args=[account.pk]), {"role_arn": "arn:aws:iam::role/nope"})
    assert response.status_code == 400
    page = html(response)
    assert "That is not an IAM role ARN. It looks like arn:aws:iam::123456789012:role/" in page
    assert 'value="arn:aws:iam::role/nope"' in page and 'aria-invalid="true"' in page
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING

    # 3. Verify with the stack's role (in another AWS account): connected, then discovery makes it active.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("account_verify", args=[account.pk]), {"role_arn": f"  {ROLE_ARN} "})
    assert response.status_code == 302 and response.url == detail_url
    assert len(callbacks) == 1
    account.refresh_from_db()
    assert account.account_id == CUSTOMER_ACCOUNT
    assert account.role_arn == ROLE_ARN
    assert account.status == AccountStatus.ACTIVE

    page = html(client.get(detail_url))
    assert f"Role verified: AWS account {CUSTOMER_ACCOUNT} is connected." in page
    assert '<span class="badge badge--ok badge--large" data-status-badge>Active</span>' in page
    assert "<dd data-instances-found>3</dd>" in page
    assert "<span data-regions-done>2</span> of <span data-regions-total>2</span>" in page
    assert "Finish connecting" not in page
    listing = html(client.get(reverse("account_list")))
    assert f"<code>{CUSTOMER_ACCOUNT}</code>" in listing and 'badge--ok">Active<' in listing


@pytest.mark.usefixtures("aws")
def test_verifying_an_account_another_customer_has_is_refused_on_the_page(
    client_user, other_client, make_account, django_capture_on_commit_callbacks
):
    make_account(other_client, account_id=CUSTOMER_ACCOUNT)
    account = pending_account(make_account, client_user)
    before = rows()

    response = signed_in(client_user).post(reverse("account_verify", args=[account.pk]), {"role_arn": ROLE_ARN})

    assert response.status_code == 400
    assert f"AWS account {CUSTOMER_ACCOUNT} is already connected to spotopt by another team." in html(response)
    assert rows() == before


# ======================================================================================================
# Flow (b): access keys, end to end against moto
# ======================================================================================================


def connect_keys_form(key_id, secret, **extra):
    return {
        "method": "keys",
        "access_key_id": key_id,
        "secret_access_key": secret,
        "account_name": "",
        "environment_type": "PROD",
        "region": "us-east-1",
        **extra,
    }


@pytest.mark.usefixtures("aws")
def test_access_keys_flow_through_the_pages(client_user, django_capture_on_commit_callbacks):
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "spotopt-reader")
    launch_instances(KEYS_ACCOUNT, "us-east-1", 2)
    client = signed_in(client_user)
    responses = [client.get(reverse("account_connect"), {"method": "keys"})]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_connect"), connect_keys_form(key_id, secret, account_name="Keys"))
    responses.append(response)

    account = Account.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("account_detail", args=[account.pk])
    assert account.account_id == KEYS_ACCOUNT
    assert account.connection_method == ConnectionMethod.ACCESS_KEYS
    assert account.get_access_keys() == (key_id, secret)
    assert account.status == AccountStatus.ACTIVE

    responses.append(client.get(response.url))
    page = html(responses[-1])
    assert f"AWS account {KEYS_ACCOUNT} is connected with access keys." in page
    assert '<span class="badge badge--ok badge--large" data-status-badge>Active</span>' in page
    assert "<dd data-instances-found>2</dd>" in page
    responses.append(client.get(reverse("account_list")))
    responses.append(client.get(f"/api/v1/onboarding/{account.pk}/discovery/"))
    for response in responses:
        assert secret not in response.content.decode()


@pytest.mark.usefixtures("aws")
def test_keys_of_an_account_another_customer_connected_are_refused_and_nothing_changes(
    client_user, other_client, django_capture_on_commit_callbacks
):
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "spotopt-reader")
    with django_capture_on_commit_callbacks(execute=True):
        account_connect_access_keys(user=other_client, access_key_id=key_id, secret_access_key=secret)
    before = rows()

    response = signed_in(client_user).post(
        reverse("account_connect"), connect_keys_form(key_id, secret, account_name="Mine now")
    )

    assert response.status_code == 400
    page = html(response)
    assert (
        f"AWS account {KEYS_ACCOUNT} is already connected to spotopt by another team. Ask them (or an "
        "administrator) to remove it first." in page
    )
    assert secret not in page
    assert 'value="Mine now"' in page
    assert rows() == before


@pytest.mark.usefixtures("aws")
def test_keys_aws_does_not_accept_are_refused_on_the_form(client_user):
    from tests.aws_fixtures import with_iam_auth

    response = with_iam_auth(
        signed_in(client_user).post, reverse("account_connect"), connect_keys_form(FAKE_KEY_ID, FAKE_SECRET)
    )
    assert response.status_code == 400
    page = html(response)
    assert "AWS did not accept the credentials while trying to check the access keys" in page
    assert FAKE_SECRET not in page
    assert not Account.objects.exists()


# ======================================================================================================
# Rename, retry, re-run discovery, remove
# ======================================================================================================


def test_rename_change_environment_and_regions(client_user, make_account):
    account = make_account(client_user, account_name="Old", regions=["us-east-1"])
    client = signed_in(client_user)

    response = client.post(
        reverse("account_update", args=[account.pk]),
        {"account_name": " New name ", "environment_type": "LAB", "regions": ["eu-west-1", "us-east-1"]},
    )

    assert response.status_code == 302 and response.url == reverse("account_detail", args=[account.pk])
    account.refresh_from_db()
    assert account.account_name == "New name"
    assert account.environment_type == EnvironmentType.LAB
    assert account.regions == ["eu-west-1", "us-east-1"]
    page = html(client.get(response.url))
    assert "Settings saved. Re-run discovery to scan the new regions now." in page
    assert '<h1 class="page-title">New name</h1>' in page


def test_settings_errors_are_shown_on_the_form_and_change_nothing(client_user, make_account):
    account = make_account(client_user, account_name="Old")
    before = rows()
    response = signed_in(client_user).post(
        reverse("account_update", args=[account.pk]), {"account_name": "", "environment_type": "PROD"}
    )
    assert response.status_code == 400
    page = html(response)
    assert "This field is required." in page
    assert '<h1 class="page-title">Old</h1>' in page  # the page is the account's, re-rendered
    assert rows() == before


# --- the optimizer settings on the settings form (percents on the page, shares in the database) -----------

OPTIMIZER_FIELDS = ["optimizer_min_saving", "optimizer_max_risk", "allow_automatic_switches", "switch_max_group_share"]


def optimizer_settings(account):
    account.refresh_from_db()
    return (
        account.optimizer_min_saving,
        account.optimizer_max_risk,
        account.allow_automatic_switches,
        account.switch_max_group_share,
    )


def settings_post(**fields):
    return {"account_name": "Production", "environment_type": "PROD", **fields}


def number_input(page: str, name: str) -> str:
    match = re.search(rf'<input type="number" name="{name}"[^>]*>', page)
    assert match, f"no number input {name}"
    return match.group(0)


def field_block(page: str, name: str) -> str:
    """The settings form's <div class="field"> of one field: label, input, help and errors."""
    match = re.search(rf'<div class="field[^"]*">\s*<label for="id_{name}".*?</div>', page, re.S)
    assert match, f"no field {name}"
    return match.group(0)


def test_the_settings_form_shows_the_optimizer_settings_with_the_installation_defaults(
    client_user, make_account, settings
):
    settings.OPTIMIZER_MIN_SAVING, settings.OPTIMIZER_MAX_RISK = 0.25, 0.075
    account = make_account(client_user, account_name="Production")
    page = html(signed_in(client_user).get(reverse("account_detail", args=[account.pk])))

    assert "Least saving for a switch (% of the hourly price)" in page
    assert "Empty: the installation default, 25%." in page
    assert "Highest interruption risk accepted (%)" in page
    assert "Empty: the installation default, 7.5%." in page
    assert "Switch production instances without an approval" in page
    assert "LAB accounts always switch on their own." in page
    assert "Largest share of an Auto Scaling group switched at once (%)" in page
    # No account values yet: the thresholds are empty (the defaults apply), the group share is 25%.
    assert "value=" not in number_input(page, "optimizer_min_saving")
    assert "value=" not in number_input(page, "optimizer_max_risk")
    assert 'value="25"' in number_input(page, "switch_max_group_share")
    assert not re.search(r'<input type="checkbox" name="allow_automatic_switches"[^>]*checked', page)


def test_the_settings_form_saves_the_optimizer_settings_and_empty_thresholds_go_back_to_the_defaults(
    client_user, make_account
):
    account = make_account(client_user, account_name="Production")
    client = signed_in(client_user)
    url = reverse("account_update", args=[account.pk])

    response = client.post(
        url,
        settings_post(
            optimizer_min_saving="30",
            optimizer_max_risk="5.5",
            allow_automatic_switches="on",
            switch_max_group_share="50",
        ),
    )

    assert response.status_code == 302
    assert optimizer_settings(account) == (Decimal("0.3"), Decimal("0.055"), True, Decimal("0.5"))
    page = html(client.get(response.url))
    assert "Settings saved." in page
    assert 'value="30"' in number_input(page, "optimizer_min_saving")  # the form shows what is stored
    assert 'value="5.5"' in number_input(page, "optimizer_max_risk")
    assert 'value="50"' in number_input(page, "switch_max_group_share")
    assert re.search(r'<input type="checkbox" name="allow_automatic_switches"[^>]*checked', page)

    # Emptied thresholds: the installation's defaults again; an emptied group share stays; the box unticked.
    response = client.post(
        url,
        settings_post(optimizer_min_saving="", optimizer_max_risk="", switch_max_group_share=""),
    )
    assert response.status_code == 302
    assert optimizer_settings(account) == (None, None, False, Decimal("0.5"))


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("optimizer_min_saving", "0.5", "The least saving of a switch is 1% to 95% of the hourly price."),
        ("optimizer_min_saving", "96", "The least saving of a switch is 1% to 95% of the hourly price."),
        ("optimizer_min_saving", "12.25", "Ensure that there are no more than 1 decimal place."),
        ("optimizer_min_saving", "lots", "Enter a number."),
        ("optimizer_max_risk", "0.05", "The highest interruption risk accepted is 0.1% to 50%."),
        ("optimizer_max_risk", "50.1", "The highest interruption risk accepted is 0.1% to 50%."),
        ("switch_max_group_share", "0", "The largest share of an Auto Scaling group switched at once is 1% to 100%."),
        ("switch_max_group_share", "101", "The largest share of an Auto Scaling group switched at once is 1% to 100%."),
    ],
)
def test_optimizer_settings_out_of_range_are_shown_on_their_field_and_change_nothing(
    client_user, make_account, field, value, message
):
    account = make_account(client_user, account_name="Production", optimizer_min_saving=Decimal("0.3"))
    before = rows()

    response = signed_in(client_user).post(
        reverse("account_update", args=[account.pk]), settings_post(**{"optimizer_min_saving": "30", field: value})
    )

    assert response.status_code == 400
    block = field_block(html(response), field)
    assert "field--invalid" in block and message in block
    assert rows() == before


@pytest.mark.parametrize(
    "code,field",
    [
        ("invalid_optimizer_min_saving", "optimizer_min_saving"),
        ("invalid_optimizer_max_risk", "optimizer_max_risk"),
        ("invalid_switch_max_group_share", "switch_max_group_share"),
    ],
)
def test_the_services_optimizer_errors_go_on_their_field(code, field):
    form = AccountSettingsForm(settings_post())
    assert form.is_valid(), form.errors
    form.add_domain_error(DomainError("Out of range.", code=code))
    assert form.errors == {field: ["Out of range."]}


def test_a_read_only_user_cannot_change_the_optimizer_settings(readonly_user, make_account):
    account = make_account(readonly_user, account_name="Production")
    before = rows()
    client = signed_in(readonly_user)

    page = html(client.get(reverse("account_detail", args=[account.pk])))
    assert not any(f'name="{name}"' in page for name in OPTIMIZER_FIELDS)
    response = client.post(
        reverse("account_update", args=[account.pk]),
        settings_post(optimizer_min_saving="50", allow_automatic_switches="on", switch_max_group_share="100"),
    )
    assert response.status_code == 403
    assert rows() == before


def test_another_teams_user_cannot_change_the_optimizer_settings(client_user, other_client, make_account):
    theirs = make_account(other_client, account_name="Production")
    before = rows()
    response = signed_in(client_user).post(
        reverse("account_update", args=[theirs.pk]),
        settings_post(optimizer_min_saving="50", allow_automatic_switches="on", switch_max_group_share="100"),
    )
    assert response.status_code == 404
    assert rows() == before


@pytest.mark.usefixtures("aws")
def test_retry_of_a_failed_account_reconnects_it(client_user, make_account, django_capture_on_commit_callbacks):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 1)
    account = failed_account(make_account, client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN)
    client = signed_in(client_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_retry", args=[account.pk]))

    assert response.status_code == 302 and response.url == reverse("account_detail", args=[account.pk])
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert "last_error" not in account.account_metadata
    page = html(client.get(response.url))
    assert "spotopt reached the account again." in page
    assert "<dd data-instances-found>1</dd>" in page


def test_a_retry_that_cannot_run_says_why(client_user, make_account):
    account = pending_account(make_account, client_user)  # no role ARN yet
    client = signed_in(client_user)
    response = client.post(reverse("account_retry", args=[account.pk]), follow=True)
    assert response.status_code == 200
    assert "Paste the Role ARN from the CloudFormation stack&#x27;s Outputs first." in html(response)
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING


@pytest.mark.usefixtures("aws")
def test_rerun_discovery_scans_again(client_user, make_account, django_capture_on_commit_callbacks):
    account = make_account(client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN)
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 3)
    client = signed_in(client_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_rediscover", args=[account.pk]))

    detail = reverse("account_detail", args=[account.pk])
    assert response.status_code == 302 and response.url == f"{detail}?queued_after="  # no earlier run
    account.refresh_from_db()
    assert account.account_metadata["discovery"]["instances_found"] == 3
    page = html(client.get(response.url))
    assert "Discovery queued." in page
    # The run finished before the page loaded (django-q sync): nothing left to wait for.
    assert 'data-awaiting-run="false"' in page and 'data-poll="false"' in page
    assert "<dd data-instances-found>3</dd>" in page


def test_after_rerun_discovery_the_page_waits_for_the_new_run(client_user, make_account):
    started = "2026-11-01T10:00:00+00:00"
    account = make_account(
        client_user,
        account_metadata={"discovery": {"state": "succeeded", "started_at": started, "instances_found": 4}},
    )
    client = signed_in(client_user)
    response = client.post(reverse("account_rediscover", args=[account.pk]))  # queued, not run yet

    detail = reverse("account_detail", args=[account.pk])
    assert response.url == f"{detail}?queued_after=2026-11-01T10%3A00%3A00%2B00%3A00"
    page = html(client.get(response.url))
    assert 'data-awaiting-run="true"' in page and 'data-poll="true"' in page
    assert f'data-queued-after="{started}"' in page
    assert "<dd data-discovery-state>Queued</dd>" in page


@pytest.mark.usefixtures("aws")
def test_verifying_an_account_connected_meanwhile_says_so(client_user, make_account):
    account = make_account(client_user)  # active
    response = signed_in(client_user).post(
        reverse("account_verify", args=[account.pk]), {"role_arn": ROLE_ARN}, follow=True
    )
    assert response.status_code == 200
    assert "This account is already active; there is nothing to verify." in html(response)


def test_rerun_discovery_of_a_pending_account_says_why_not(client_user, make_account):
    account = pending_account(make_account, client_user)
    response = signed_in(client_user).post(reverse("account_rediscover", args=[account.pk]), follow=True)
    assert "Discovery needs a connected account; this one is pending." in html(response)


def test_remove_explains_the_cascade_then_removes(
    client_user, make_account, make_instance, make_experiment, make_approval
):
    from sla.models import DowntimeLog
    from waste.models import WasteResource

    account = make_account(client_user, account_name="Payments")
    instances = [make_instance(account) for _ in range(2)]
    make_experiment(instances[0])
    WasteResource.objects.create(
        account=account, resource_type="elastic_ip", resource_id="eipalloc-1", region="us-east-1"
    )
    approval = make_approval(account=account)
    downtime = DowntimeLog.objects.create(
        account=account,
        started_at=timezone.now() - timedelta(minutes=1),
        cause=DowntimeLog._meta.get_field("cause").choices[0][0],
    )
    client = signed_in(client_user)

    page = html(client.get(reverse("account_delete", args=[account.pk])))
    assert "Remove “Payments”?" in page
    assert "2 discovered instances" in page
    assert "1 experiment log of those instances" in page
    assert "1 waste finding" in page
    assert "1 approval request" in page and "1 downtime record" in page
    assert "delete the CloudFormation stack" in page

    response = client.post(reverse("account_delete", args=[account.pk]))

    assert response.status_code == 302 and response.url == reverse("account_list")
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not WasteResource.objects.exists()
    approval.refresh_from_db()
    downtime.refresh_from_db()
    assert approval.account_id is None and downtime.account_id is None  # kept for the audit trail
    listing = html(client.get(response.url))
    assert f"Removed “Payments” (AWS account {account.account_id}) from spotopt." in listing
    assert "No AWS account connected yet" in listing
