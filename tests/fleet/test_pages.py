"""The fleet pages: the list (summary, per-account breakdown, filtered/sorted/paginated table, empty states),
the instance detail, and the Lab controls POST, through the Django test client."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AccountStatus, EnvironmentType, Role
from approvals.choices import RiskLevel
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType, PipelineMode
from fleet.models import Instance
from mlgov.choices import ModelStatus
from tests.helpers import page_link, walk_pages

pytestmark = pytest.mark.django_db

LIST_URL = "/fleet/"
EN_DASH = "\u2013"


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    """The page's visible words, whitespace collapsed (for sentences that span template lines)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html(response), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def detail_url(instance) -> str:
    return reverse("instance_detail", args=[instance.pk])


def lab_url(instance) -> str:
    return reverse("instance_lab_update", args=[instance.pk])


def listed_ids(response) -> list[str]:
    """The instance ids of the table's rows, in order."""
    return re.findall(r'class="fleet-table__id" href="[^"]+">([^<]+)</a>', html(response))


def stat(response, name) -> str:
    """The visible words of one summary card."""
    match = re.search(rf'data-stat="{name}">(.*?)</div>', html(response), flags=re.S)
    assert match, f"no {name} card"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def lab_forms(page: str) -> list[str]:
    return re.findall(r'<form[^>]*method="post"[^>]*action="(/fleet/[^"]+/lab/)"', page)


LAB_POST = {"pipeline_mode": PipelineMode.LINEAR, "is_shadow_mode": "on", "assigned_model_version": ""}


@pytest.fixture
def fleet(client_user, other_client, make_account, make_instance):
    """A known fleet of the client's: two accounts, priced and unpriced instances, one rogue, one gone;
    and another tenant's instance that must never show."""
    now = timezone.now()
    payments = make_account(client_user, account_name="Payments prod")
    analytics = make_account(client_user, account_name="Analytics")
    rows = {
        # 2 on-demand m5.large in us-east-1 = 2 x 0.096/h
        "web": make_instance(
            payments,
            instance_id="i-0aaa000000000web1",
            auth_status=AuthStatus.AUTHORIZED,
            instance_metadata={"name": "web-1", "tags": {"Name": "web-1", "ManagedBy": "SpotOptimizer"}},
            last_evaluation=now - timedelta(hours=2),
        ),
        "rogue": make_instance(
            payments,
            instance_id="i-0bbb00000000rogue",
            auth_status=AuthStatus.FLAGGED,
            flagged_at=now - timedelta(hours=5, minutes=10),
            instance_metadata={"name": "crypto-miner", "tags": {"Name": "crypto-miner"}},
        ),
        # a spot node of an EKS cluster, priced by its pool's spot price
        "node": make_instance(
            analytics,
            instance_id="i-0ccc0000000node01",
            instance_type="c5.xlarge",
            availability_zone="us-east-1b",
            lifecycle=Lifecycle.SPOT,
            orchestrator_type=OrchestratorType.KUBERNETES,
            auth_status=AuthStatus.AUTHORIZED,
            cluster_membership={"cluster_name": "analytics-eks", "node_group": "batch-spot"},
            instance_metadata={
                "name": "batch-node",
                "spot_price": "0.0350",
                "tags": {"eks:cluster-name": "analytics-eks"},
            },
        ),
        # a spot instance whose pool price is not known: unpriced, never counted as zero
        "unpriced": make_instance(
            analytics,
            instance_id="i-0ddd00000unpriced",
            instance_type="r5.large",
            availability_zone="eu-west-1a",
            region="eu-west-1",
            lifecycle=Lifecycle.SPOT,
            auth_status=AuthStatus.UNAUTHORIZED,
            instance_metadata={"name": "etl"},
        ),
        "gone": make_instance(payments, instance_id="i-0eee0000000gone00", is_active=False),
    }
    theirs = make_account(other_client, account_name="Their account")
    rows["theirs"] = make_instance(theirs, instance_id="i-0fff000000theirs0")
    return rows


# ======================================================================================================
# Who may open and do what
# ======================================================================================================


def test_anonymous_visitors_are_sent_to_sign_in(client, fleet):
    instance = fleet["web"]
    for url in (LIST_URL, detail_url(instance)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"
    response = client.post(lab_url(instance), LAB_POST)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_fleet_urls_and_navigation(client_user):
    assert reverse("instance_list") == LIST_URL
    page = html(signed_in(client_user).get(LIST_URL))
    assert f'href="{LIST_URL}" aria-current="page">Fleet</a>' in page


def test_another_tenants_instance_is_not_found_on_the_page_and_the_post(other_client, fleet, make_account):
    lab_account = make_account(fleet["web"].account.user, environment_type=EnvironmentType.LAB)
    lab_instance = Instance.objects.create(
        account=lab_account, instance_id="i-0123000000000lab0", instance_type="m5.large", region="us-east-1"
    )
    client = signed_in(other_client)
    for instance in (fleet["web"], lab_instance):
        assert client.get(detail_url(instance)).status_code == 404
        assert client.post(lab_url(instance), LAB_POST).status_code == 404
    page = html(client.get(LIST_URL))
    assert "i-0fff000000theirs0" in page
    assert "i-0aaa000000000web1" not in page and "Payments prod" not in page


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER])
def test_customers_see_no_lab_form_and_get_403_on_the_lab_post(make_user, make_account, make_instance, role):
    reader = make_user(role)
    instance = make_instance(make_account(reader, environment_type=EnvironmentType.LAB))
    client = signed_in(reader)

    page = html(client.get(detail_url(instance)))
    assert instance.instance_id in page
    assert lab_forms(page) == [] and "Lab controls" not in page
    assert client.post(lab_url(instance), LAB_POST).status_code == 403
    assert client.post(lab_url(instance), {}).status_code == 403  # refused before the form is read
    instance.refresh_from_db()
    assert (instance.pipeline_mode, instance.is_shadow_mode) == (PipelineMode.CLUSTER, False)


def test_a_lab_user_gets_the_form_on_a_lab_instance_and_404_on_a_production_one(
    lab_user, client_user, make_account, make_instance, make_ml_model
):
    make_ml_model(version="2.1", name="risk-gbm", status=ModelStatus.TESTING)
    make_ml_model(version="0.9", name="risk-old", status=ModelStatus.ARCHIVED)
    lab = make_instance(make_account(client_user, environment_type=EnvironmentType.LAB, account_name="Sandbox"))
    prod = make_instance(make_account(client_user, account_name="Payments prod"))
    client = signed_in(lab_user)

    page = html(client.get(detail_url(lab)))
    assert lab_forms(page) == [lab_url(lab)]
    assert '<option value="2.1">2.1 · risk-gbm (testing)</option>' in page
    assert 'value="0.9"' not in page  # archived models cannot be assigned
    assert client.get(detail_url(prod)).status_code == 404
    assert client.post(lab_url(prod), LAB_POST).status_code == 404
    listing = html(client.get(LIST_URL))
    assert lab.instance_id in listing and prod.instance_id not in listing

    response = client.post(lab_url(lab), {**LAB_POST, "assigned_model_version": "2.1"})
    assert response.status_code == 302 and response.url == detail_url(lab)
    lab.refresh_from_db()
    assert (lab.pipeline_mode, lab.is_shadow_mode, lab.assigned_model_version) == ("LINEAR", True, "2.1")
    page = text(client.get(detail_url(lab)))
    assert "Lab controls saved: pipeline mode Linear, shadow mode on, model version 2.1." in page


def test_an_admin_changes_lab_controls_on_a_lab_instance_and_is_told_no_on_production(
    admin_user, client_user, make_account, make_instance
):
    lab = make_instance(make_account(client_user, environment_type=EnvironmentType.LAB))
    prod = make_instance(make_account(client_user))
    client = signed_in(admin_user)

    assert lab_forms(html(client.get(detail_url(lab)))) == [lab_url(lab)]
    assert lab_forms(html(client.get(detail_url(prod)))) == []

    response = client.post(lab_url(lab), {"pipeline_mode": "LINEAR", "assigned_model_version": ""}, follow=True)
    assert "Lab controls saved: pipeline mode Linear." in text(response)
    lab.refresh_from_db()
    assert (lab.pipeline_mode, lab.is_shadow_mode) == ("LINEAR", False)

    response = client.post(lab_url(prod), LAB_POST, follow=True)
    assert response.redirect_chain == [(detail_url(prod), 302)]
    assert "Lab controls apply to instances of LAB-environment accounts only; this one is production." in text(response)
    prod.refresh_from_db()
    assert (prod.pipeline_mode, prod.is_shadow_mode) == ("CLUSTER", False)


def test_lab_form_errors_are_shown_on_the_page_and_change_nothing(admin_user, client_user, make_account, make_instance):
    lab = make_instance(make_account(client_user, environment_type=EnvironmentType.LAB))
    client = signed_in(admin_user)

    response = client.post(lab_url(lab), {"pipeline_mode": "SIDEWAYS", "assigned_model_version": "9.9"})
    assert response.status_code == 400
    page = html(response)
    assert "Select a valid choice. SIDEWAYS is not one of the available choices." in page
    assert "Select a valid choice. 9.9 is not one of the available choices." in page
    lab.refresh_from_db()
    assert lab.pipeline_mode == "CLUSTER"

    response = client.post(lab_url(lab), {"pipeline_mode": "CLUSTER", "assigned_model_version": ""}, follow=True)
    assert "Nothing changed" in text(response)
    assert client.get(lab_url(lab)).url == detail_url(lab)


def test_the_lab_post_needs_the_csrf_token(admin_user, client_user, make_account, make_instance):
    lab = make_instance(make_account(client_user, environment_type=EnvironmentType.LAB))
    client = signed_in(admin_user, enforce_csrf_checks=True)
    assert client.post(lab_url(lab), LAB_POST).status_code == 403
    lab.refresh_from_db()
    assert lab.pipeline_mode == "CLUSTER"

    page = html(client.get(detail_url(lab)))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(lab_url(lab), {**LAB_POST, "csrfmiddlewaretoken": token}).status_code == 302
    lab.refresh_from_db()
    assert lab.pipeline_mode == "LINEAR"


# ======================================================================================================
# The list: summary
# ======================================================================================================


def test_the_summary_counts_and_costs_the_active_fleet(client_user, fleet):
    response = signed_in(client_user).get(LIST_URL)
    assert response.status_code == 200

    total = response.context["total"]
    assert total.instances == 4
    # 2 x 0.096 (on-demand m5.large) + 0.0350 (spot price); the spot instance without a price is left out
    assert total.hourly_cost == Decimal("0.2270")
    assert total.unpriced == 1
    assert stat(response, "instances") == "Active instances 4 in 2 accounts"
    assert stat(response, "cost") == (
        "Hourly cost $0.23/h ≈ $165.71/month On-demand list prices and the latest Spot price of each pool. "
        "1 instance without a known price"
    )
    assert stat(response, "lifecycle") == "Lifecycle Spot 2 On-demand 2 Orchestrator Kubernetes 1 Standalone 3"
    assert stat(response, "auth").startswith("Authorization 1 rogue flagged: no authorizing tag.")
    assert "Authorized 2" in stat(response, "auth") and "Unauthorized 1" in stat(response, "auth")
    assert stat(response, "regions") == "Regions us-east-1 3 eu-west-1 1"


def test_the_per_account_breakdown(client_user, fleet):
    response = signed_in(client_user).get(LIST_URL)
    table = html(response).split("<caption>By account</caption>")[1].split("</table>")[0]
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table.split("<tr>")[2:]]
    analytics_id, payments_id = fleet["node"].account.account_id, fleet["web"].account.account_id
    assert rows == [
        f"Analytics {analytics_id} 2 2 / 0 1 / 1 0 $0.04/h 1 without a price",
        f"Payments prod {payments_id} 2 0 / 2 0 / 2 1 rogue $0.19/h",
    ]


def test_the_summary_follows_the_filters(client_user, fleet):
    response = signed_in(client_user).get(LIST_URL, {"lifecycle": "spot"})
    total = response.context["total"]
    assert (total.instances, total.hourly_cost, total.unpriced) == (2, Decimal("0.0350"), 1)
    assert "Totals of the instances that match the filters." in text(response)
    assert stat(response, "cost").startswith("Hourly cost $0.04/h ≈ $25.55/month")

    response = signed_in(client_user).get(LIST_URL, {"lifecycle": "on-demand", "page": "1"})
    assert stat(response, "auth").startswith("Authorization 1 rogue")
    assert 'href="?lifecycle=on-demand&amp;auth_status=FLAGGED">Show them</a>' in html(response)

    response = signed_in(client_user).get(LIST_URL, {"is_active": ""})
    assert response.context["total"].instances == 5
    assert stat(response, "instances").startswith("Instances 5")


# ======================================================================================================
# The list: table, filters, search, sorting, pagination
# ======================================================================================================


def test_the_table_shows_what_an_engineer_looks_for(client_user, fleet):
    response = signed_in(client_user).get(LIST_URL)
    page = html(response)
    # by instance id
    assert listed_ids(response) == [
        "i-0aaa000000000web1",
        "i-0bbb00000000rogue",
        "i-0ccc0000000node01",
        "i-0ddd00000unpriced",
    ]
    assert f'href="{detail_url(fleet["web"])}">i-0aaa000000000web1</a>' in page
    assert 'title="Cluster: analytics-eks, Node group: batch-spot">analytics-eks / batch-spot</span>' in page
    row = text(response).split("i-0ccc0000000node01", 1)[1].split("i-0ddd00000unpriced")[0]
    assert " ".join(row.split()) == (
        "batch-node Analytics c5.xlarge us-east-1b Spot Kubernetes analytics-eks / batch-spot "
        "Authorized $0.0350/h never"
    )
    assert "rogue flagged 5h ago" in text(response)
    assert '<span class="badge badge--spot">Spot</span>' in page
    assert "$0.0960/h" in page and "unknown" in page
    assert "2 hours ago" in text(response)
    assert "i-0eee0000000gone00" not in page  # active only by default
    assert "4 instances" in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"auth_status": "FLAGGED"}, ["i-0bbb00000000rogue"]),
        ({"region": "eu-west-1"}, ["i-0ddd00000unpriced"]),
        ({"instance_type": "c5.xlarge"}, ["i-0ccc0000000node01"]),
        ({"orchestrator_type": "KUBERNETES"}, ["i-0ccc0000000node01"]),
        ({"lifecycle": "on-demand"}, ["i-0aaa000000000web1", "i-0bbb00000000rogue"]),
        ({"is_active": "false"}, ["i-0eee0000000gone00"]),
        ({"q": "miner"}, ["i-0bbb00000000rogue"]),  # name tag
        ({"q": "analytics-eks"}, ["i-0ccc0000000node01"]),  # cluster
        ({"q": "WEB1"}, ["i-0aaa000000000web1"]),  # instance id, any case
        ({"pipeline_mode": "LINEAR"}, []),
        ({"is_shadow_mode": "true"}, []),
    ],
)
def test_filters_and_search(client_user, fleet, params, expected):
    response = signed_in(client_user).get(LIST_URL, params)
    assert listed_ids(response) == expected
    assert response.context["total"].instances == len(expected)
    assert '<a class="button button--quiet" href="/fleet/">Clear</a>' in html(response)
    if not expected:
        assert "No instance matches these filters" in html(response)


def test_the_account_filter_offers_only_the_readers_accounts(client_user, fleet):
    analytics = fleet["node"].account
    response = signed_in(client_user).get(LIST_URL, {"account": analytics.pk})
    assert listed_ids(response) == ["i-0ccc0000000node01", "i-0ddd00000unpriced"]
    assert f'<option value="{analytics.pk}" selected>Analytics</option>' in html(response)
    assert "Their account" not in html(response)

    theirs = fleet["theirs"].account
    response = signed_in(client_user).get(LIST_URL, {"account": theirs.pk})
    assert "Some filters were ignored" in html(response)
    assert "i-0fff000000theirs0" not in html(response)


def test_sortable_headers_keep_the_filters(client_user, fleet):
    client = signed_in(client_user)
    response = client.get(LIST_URL, {"ordering": "instance_type", "lifecycle": "on-demand", "page": "1"})
    assert response.status_code == 200
    response = client.get(LIST_URL, {"ordering": "-auth_status"})
    # UNAUTHORIZED, FLAGGED, AUTHORIZED (ties by instance id, descending with the column)
    assert listed_ids(response) == [
        "i-0ddd00000unpriced",
        "i-0bbb00000000rogue",
        "i-0ccc0000000node01",
        "i-0aaa000000000web1",
    ]
    response = client.get(LIST_URL, {"ordering": "instance_type", "lifecycle": "spot", "page": "1"})
    assert listed_ids(response) == ["i-0ccc0000000node01", "i-0ddd00000unpriced"]
    page = html(response)
    # the active column sorts the other way next, the others ascending; filters kept, page reset
    assert '<th scope="col" aria-sort="ascending">' in page
    assert 'href="?ordering=-instance_type&amp;lifecycle=spot"' in page
    assert 'href="?ordering=availability_zone&amp;lifecycle=spot"' in page
    assert '<input type="hidden" name="ordering" value="instance_type">' in page


def test_pagination_keeps_the_filters(client_user, make_account, make_instance):
    account = make_account(client_user)
    for n in range(53):
        make_instance(account, instance_id=f"i-{n:017d}", lifecycle=Lifecycle.SPOT if n % 2 else Lifecycle.ON_DEMAND)
    make_instance(account, instance_id="i-zz-on-demand-xxx")
    client = signed_in(client_user)

    response = client.get(LIST_URL)
    assert len(listed_ids(response)) == 50
    assert "50 of 54 instances" in html(response)
    assert response.context["total"].instances == 54  # the summary covers every page

    response = client.get(LIST_URL, {"lifecycle": "on-demand", "ordering": "-instance_id"})
    assert len(listed_ids(response)) == 28 and "28 instances" in html(response)
    assert listed_ids(response)[0] == "i-zz-on-demand-xxx"
    response = client.get(LIST_URL, {"lifecycle": "spot"})
    assert len(listed_ids(response)) == 26 and "26 instances" in html(response)

    pages = walk_pages(client, LIST_URL, {"q": "i-000", "ordering": "-instance_id"}, listed_ids)
    assert [ids for ids, _ in pages] == [
        [f"i-{n:017d}" for n in range(52, 2, -1)],
        [f"i-{n:017d}" for n in (2, 1, 0)],
    ]
    first, last = pages[0][1], pages[1][1]
    assert page_link(first, "prev") is None and page_link(first, "first") is None
    assert page_link(last, "next") is None
    for link in (page_link(first, "next"), page_link(last, "prev"), page_link(last, "first")):
        assert link.startswith("?q=i-000&ordering=-instance_id"), link  # the filters and order carry over
    back = client.get(f"{LIST_URL}{page_link(last, 'prev')}")
    assert listed_ids(back) == listed_ids(first)
    assert "50 of 53 instances" in html(back)
    assert listed_ids(client.get(f"{LIST_URL}{page_link(last, 'first')}")) == listed_ids(first)
    # A cursor the list did not give out (edited, or of another order) shows the first page, not an error.
    assert listed_ids(client.get(LIST_URL, {"cursor": "not-a-cursor"}))[0] == "i-00000000000000000"


def test_the_list_makes_a_constant_number_of_queries(client_user, make_account, make_instance):
    client = signed_in(client_user)
    accounts = [make_account(client_user), make_account(client_user)]

    def seed(count):
        for n in range(count):
            make_instance(
                accounts[n % 2],
                lifecycle=Lifecycle.SPOT if n % 3 else Lifecycle.ON_DEMAND,
                auth_status=AuthStatus.FLAGGED if n % 4 == 0 else AuthStatus.AUTHORIZED,
                flagged_at=timezone.now() if n % 4 == 0 else None,
                cluster_membership={"cluster_name": "eks-1"} if n % 2 else {},
                instance_metadata={"spot_price": "0.0300", "name": f"node-{n}"},
            )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(LIST_URL)
        assert response.status_code == 200
        return len(captured)

    seed(3)
    few = queries()
    seed(27)
    assert queries() == few


# ======================================================================================================
# The list: empty states
# ======================================================================================================


def test_a_new_customer_is_told_to_connect_an_account(client_user):
    response = signed_in(client_user).get(LIST_URL)
    assert "No AWS account connected yet" in html(response)
    assert f'href="{reverse("account_connect")}">Connect an AWS account</a>' in html(response)


def test_a_customer_whose_account_is_being_discovered_is_told_so(client_user, make_account):
    account = make_account(client_user, status=AccountStatus.CONNECTED, account_name="Payments prod")
    page = text(signed_in(client_user).get(LIST_URL))
    assert "Discovery is running" in page
    assert "spotopt is scanning the regions of Payments prod for EC2 instances." in page
    assert f'href="{reverse("account_detail", args=[account.pk])}"' in html(signed_in(client_user).get(LIST_URL))


@pytest.mark.parametrize(
    ("status", "headline"),
    [
        (AccountStatus.PENDING, "Finish connecting your AWS account"),
        (AccountStatus.FAILED, "Discovery could not reach your AWS account"),
        (AccountStatus.ACTIVE, "No EC2 instance found"),
    ],
)
def test_the_empty_state_follows_the_accounts_status(client_user, make_account, status, headline):
    make_account(client_user, status=status)
    assert headline in html(signed_in(client_user).get(LIST_URL))


def test_read_only_and_lab_users_get_their_own_sentence(readonly_user, lab_user):
    page = text(signed_in(readonly_user).get(LIST_URL))
    assert "No AWS account yet" in page and "Your role is read-only" in page
    assert reverse("account_connect") not in page
    page = text(signed_in(lab_user).get(LIST_URL))
    assert "No Lab account yet" in page


def test_only_gone_instances_offer_to_show_them(client_user, make_account, make_instance):
    make_instance(make_account(client_user), instance_id="i-0000000000000gone", is_active=False)
    response = signed_in(client_user).get(LIST_URL)
    assert "No instance matches these filters" in html(response)
    assert 'href="/fleet/?is_active=">include the instances that are gone</a>' in html(response)


# ======================================================================================================
# The detail page
# ======================================================================================================


def test_the_detail_of_a_flagged_rogue_instance(client_user, fleet, make_approval, settings):
    settings.FLEET_AUTHORIZING_TAGS = ["ManagedBy=SpotOptimizer", "aws:autoscaling:groupName", "eks:cluster-name"]
    settings.ROGUE_GRACE_HOURS = 24
    rogue = fleet["rogue"]
    rogue.instance_metadata = {
        "name": "crypto-miner",
        "state": "running",
        "launch_time": "2026-03-01T08:30:00+00:00",
        "subnet_id": "subnet-0abc",
        "vpc_id": "vpc-0def",
        "private_ip": "10.0.3.17",
        "image_id": "ami-0123456789",
        "tags": {"Name": "crypto-miner", "team": "unknown"},
    }
    rogue.save()
    approval = make_approval(account=rogue.account, instance=rogue, risk_level=RiskLevel.HIGH)
    response = signed_in(client_user).get(detail_url(rogue))
    assert response.status_code == 200
    page, words = html(response), text(response)

    for expected in ("m5.large", "us-east-1a", "us-east-1", "On-demand", "$0.0960/h", "Payments prod"):
        assert expected in words
    for expected in ("running", "1 Mar 2026, 08:30 UTC", "subnet-0abc", "vpc-0def", "10.0.3.17", "ami-0123456789"):
        assert expected in words
    assert "team unknown" in words and "Name crypto-miner" in words  # the tags table
    assert "Flagged · rogue" in words
    assert "Flagged as rogue: it has no authorizing tag. Flagged 5h ago" in words
    assert (
        "A termination request will be filed after the 24 h grace period unless it gets an authorizing tag: "
        "ManagedBy=SpotOptimizer, aws:autoscaling:groupName or eks:cluster-name."
    ) in words
    deadline = rogue.flagged_at + timedelta(hours=24)
    assert f"The grace period ends on {deadline:%-d %b %Y, %H:%M} UTC, in 18" in words
    assert f'href="{reverse("approval_detail", args=[approval.pk])}">Terminate rogue instance</a>' in page
    assert "Pending" in words and "High" in words
    assert "No optimizer runs yet" in words
    assert "Not part of a cluster or an Auto Scaling group" in words
    assert f'href="{reverse("account_detail", args=[rogue.account.pk])}"' in page


def test_the_grace_period_and_the_authorizing_tags_come_from_the_settings(client_user, fleet, settings, make_approval):
    settings.FLEET_AUTHORIZING_TAGS = ["Owner=platform", "karpenter.sh/nodepool"]
    settings.ROGUE_GRACE_HOURS = 4
    rogue = fleet["rogue"]
    rogue.instance_metadata["tags"] = {"Owner": "someone-else", "karpenter.sh/nodepool": ""}
    rogue.save()
    client = signed_in(client_user)
    response = client.get(detail_url(rogue))
    words = text(response)
    assert (
        "A termination request will be filed after the 4 h grace period unless it gets an authorizing tag: "
        "Owner=platform or karpenter.sh/nodepool."
    ) in words
    assert "The grace period ended on" in words and "The termination request is filed at the next discovery." in words
    # a Key=Value rule authorizes only with that value; a bare key authorizes whatever its value
    assert "Owner someone-else" in words and "karpenter.sh/nodepool authorizing" in words
    assert [authorizing for _key, _value, authorizing in response.context["tags"]] == [True, False]

    request = make_approval(account=rogue.account, instance=rogue, risk_level=RiskLevel.HIGH)
    words = text(client.get(detail_url(rogue)))
    assert "A request to terminate it was filed (pending)." in words
    assert f'href="{reverse("approval_detail", args=[request.pk])}">request to terminate it</a>' in html(
        client.get(detail_url(rogue))
    )


def test_the_detail_of_a_cluster_node_with_its_history(
    client_user, fleet, make_experiment, make_ml_model, make_instance
):
    node = fleet["node"]
    model = make_ml_model(name="risk-gbm", version="3.0")
    now = timezone.now()
    for n in range(22):
        make_experiment(node, execution_time=now - timedelta(hours=n + 1), decision="HOLD")
    make_experiment(
        node,
        execution_time=now,
        decision="SWITCH",
        model=model,
        prediction_score=0.12,
        selected_instance_type="c6i.xlarge",
        selected_availability_zone="us-east-1c",
        old_spot_price=Decimal("0.0350"),
        new_spot_price=Decimal("0.0290"),
        projected_hourly_savings=Decimal("0.0060"),
        decision_reason="Cheaper pool with low interruption risk.",
    )
    replica = make_instance(
        node.account, instance_id="i-0ccc00000replica1", is_replica=True, replica_of=node, is_active=True
    )
    response = signed_in(client_user).get(detail_url(node))
    words = text(response)

    assert "Orchestrator Kubernetes Cluster analytics-eks Node group batch-spot" in words
    assert "Authorized by the tag eks:cluster-name." in words
    assert "eks:cluster-name authorizing analytics-eks" in words
    assert "$0.0350/h (latest Spot price of the pool)" in words
    assert "The newest 20 of 23 runs." in words
    assert len(response.context["experiments"]) == 20
    row = words.split("Why ", 1)[1]
    assert row.startswith(
        f"{now:%-d %b %Y, %H:%M} Switch Cluster 0.12 c6i.xlarge · us-east-1c $0.0350 → $0.0290 $0.0060/h 3.0 risk-gbm "
        "Cheaper pool with low interruption risk."
    )
    assert f'href="{detail_url(replica)}"><code>i-0ccc00000replica1</code></a>' in html(response)

    page = html(signed_in(client_user).get(detail_url(replica)))
    assert f'standing in for <a href="{detail_url(node)}"><code>i-0ccc0000000node01</code></a>' in page


def test_the_detail_of_a_gone_instance(client_user, fleet):
    words = text(signed_in(client_user).get(detail_url(fleet["gone"])))
    assert "This instance no longer exists in AWS" in words


def test_an_admin_sees_every_tenant_and_the_owner(admin_user, fleet):
    client = signed_in(admin_user)
    response = client.get(LIST_URL)
    assert "i-0fff000000theirs0" in html(response) and "i-0aaa000000000web1" in html(response)
    assert "Owner" in html(response)
    words = text(client.get(detail_url(fleet["theirs"])))
    assert f"Owner {fleet['theirs'].account.user.full_name}" in words


def test_asg_members_terminated_instances_and_an_archived_model_version(
    admin_user, client_user, make_account, make_instance, make_ml_model, settings
):
    settings.FLEET_AUTHORIZING_TAGS = ["ManagedBy=SpotOptimizer"]
    account = make_account(client_user, environment_type=EnvironmentType.LAB)
    make_ml_model(version="1.0", status=ModelStatus.ARCHIVED)
    asg = make_instance(account, instance_id="i-0000000000000asg1", cluster_membership={"asg_name": "web-asg"})
    gone = make_instance(
        account,
        instance_id="i-00000000000000end",
        auth_status=AuthStatus.TERMINATED,
        is_active=False,
        assigned_model_version="1.0",
    )
    client = signed_in(admin_user)
    assert ">ASG web-asg</span>" in html(client.get(LIST_URL))
    assert "Auto Scaling group web-asg" in text(client.get(detail_url(asg)))

    response = client.get(detail_url(gone))
    words = text(response)
    assert "Terminated by spotopt through an approved request." in words
    assert "If it loses every authorizing tag (ManagedBy=SpotOptimizer)" not in words
    assert '<option value="1.0" selected>1.0 (current; no longer assignable)</option>' in html(response)
    # the archived version may stay while something else changes (only changed fields go to the service)
    response = client.post(lab_url(gone), {"pipeline_mode": "LINEAR", "assigned_model_version": "1.0"}, follow=True)
    assert "Lab controls saved: pipeline mode Linear." in text(response)
    gone.refresh_from_db()
    assert (gone.pipeline_mode, gone.assigned_model_version) == ("LINEAR", "1.0")
    words = text(client.get(detail_url(asg)))
    assert "If it loses every authorizing tag" not in words  # UNAUTHORIZED: it has none
    assert "unless it gets an authorizing tag: ManagedBy=SpotOptimizer." in words
