"""The fleet pages in a real browser: a client signs in, opens Fleet, reads the summary and the table, filters
to the rogue instances and opens one; a Lab user changes the Lab controls of a LAB instance; a new customer
reads what to do first.

Set SPOTOPT_SCREENSHOT_DIR to keep the screenshots (tests.browser.screenshot).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.choices import EnvironmentType, Role
from approvals.choices import RiskLevel
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

ROGUE = "i-0bad0c0ffee000001"


def node(n: int, cluster: str, group: str) -> dict:
    return {
        "instance_type": "c5.xlarge",
        "availability_zone": "us-east-1b",
        "lifecycle": Lifecycle.SPOT,
        "orchestrator_type": OrchestratorType.KUBERNETES,
        "auth_status": AuthStatus.AUTHORIZED,
        "cluster_membership": {"cluster_name": cluster, "node_group": group},
        "instance_metadata": {
            "name": f"{cluster}-{group}-{n}",
            "spot_price": "0.0672",
            "state": "running",
            "tags": {"Name": f"{cluster}-{group}-{n}", "eks:cluster-name": cluster, "eks:nodegroup-name": group},
        },
        "last_evaluation": timezone.now() - timedelta(minutes=12 * n),
    }


@pytest.fixture
def estate(make_user, make_account, make_instance, make_approval, make_experiment):
    """A customer with two accounts: an EKS cluster on Spot, on-demand web servers, one rogue instance."""
    owner = make_user(Role.CLIENT, full_name="Casey Client")
    payments = make_account(owner, account_name="Payments production", account_id="123412341234")
    data = make_account(owner, account_name="Data platform", account_id="567856785678", regions=["eu-west-1"])
    for n in range(1, 4):
        instance = make_instance(payments, instance_id=f"i-0e5c0de00000000{n:02d}", **node(n, "payments-eks", "spot-a"))
        make_experiment(instance, decision="HOLD", decision_reason="Current pool is already the cheapest safe one.")
    for n in range(1, 3):
        make_instance(
            payments,
            instance_id=f"i-0web0000000000{n:02d}",
            auth_status=AuthStatus.AUTHORIZED,
            instance_metadata={
                "name": f"web-{n}",
                "tags": {"Name": f"web-{n}", "ManagedBy": "SpotOptimizer"},
            },
        )
    rogue = make_instance(
        payments,
        instance_id=ROGUE,
        instance_type="g4dn.xlarge",
        availability_zone="us-east-1c",
        auth_status=AuthStatus.FLAGGED,
        flagged_at=timezone.now() - timedelta(hours=7),
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "payments-eks"},
        instance_metadata={
            "name": "gpu-test-box",
            "state": "running",
            "launch_time": (timezone.now() - timedelta(hours=8)).isoformat(),
            "subnet_id": "subnet-0a1b2c3d",
            "vpc_id": "vpc-0f00ba7",
            "private_ip": "10.20.3.44",
            "image_id": "ami-0abcdef1234567890",
            "tags": {"Name": "gpu-test-box", "kubernetes.io/cluster/payments-eks": "owned", "owner": "dev-team"},
        },
    )
    make_approval(account=payments, instance=rogue, risk_level=RiskLevel.HIGH)
    make_instance(
        data,
        instance_id="i-0da7a000000000001",
        instance_type="r5.2xlarge",
        availability_zone="eu-west-1a",
        region="eu-west-1",
        auth_status=AuthStatus.UNAUTHORIZED,
        instance_metadata={"name": "etl-worker", "tags": {"Name": "etl-worker"}},
    )
    return {"owner": owner, "rogue": rogue}


def test_a_client_reads_the_fleet_filters_to_rogue_instances_and_opens_one(
    live_server,
    browser_page,  # noqa: F811 (the fixture imported above)
    estate,
):
    page = browser_page
    sign_in(page, live_server, estate["owner"].username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fleet").click()
    page.wait_for_url(f"{live_server.url}/fleet/")
    expect(page.locator('[data-stat="instances"]')).to_contain_text("7")
    # 3 x 0.0672 spot + 2 x 0.096 m5.large + 0.526 g4dn.xlarge + r5.2xlarge in eu-west-1
    expect(page.locator('[data-stat="cost"]')).to_contain_text("/h")
    expect(page.locator('[data-stat="cost"]')).to_contain_text("/month")
    expect(page.locator('[data-stat="auth"]')).to_contain_text("1 rogue")
    accounts = page.locator(".fleet-accounts__table tbody tr")
    expect(accounts).to_have_count(2)
    expect(accounts.first).to_contain_text("Data platform")
    rows = page.locator(".fleet-table tbody tr")
    expect(rows).to_have_count(7)
    expect(page.locator(".fleet-table__rogue")).to_contain_text("flagged 7h ago")
    screenshot(page, "01-fleet-dashboard")
    page.set_viewport_size({"width": 420, "height": 900})
    expect(page.locator('[data-stat="cost"]')).to_be_visible()
    screenshot(page, "01b-fleet-dashboard-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Sort by type: the header link keeps the page's filters and marks the column.
    page.get_by_role("link", name="Type", exact=True).click()
    page.wait_for_url(re.compile(r"ordering=instance_type"))
    expect(rows.first).to_contain_text("c5.xlarge")

    page.get_by_label("Authorization").select_option("FLAGGED")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"auth_status=FLAGGED"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(ROGUE)
    expect(page.locator('[data-stat="instances"]')).to_contain_text("1")
    assert "ordering=instance_type" in page.url
    screenshot(page, "02-fleet-filtered-flagged")

    page.get_by_role("link", name=ROGUE).click()
    page.wait_for_url(f"{live_server.url}/fleet/instances/{estate['rogue'].pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(ROGUE)
    auth = page.locator("#authorization")
    expect(auth).to_contain_text("Flagged as rogue")
    expect(auth).to_contain_text("A termination request will be filed after the 24 h grace period")
    membership = page.locator("#membership")
    expect(membership).to_contain_text("Kubernetes")
    expect(membership).to_contain_text("payments-eks")
    tags = page.locator("#tags")
    expect(tags).to_contain_text("kubernetes.io/cluster/payments-eks")
    expect(tags).to_contain_text("dev-team")
    expect(page.locator("#approvals")).to_contain_text("Terminate rogue instance")
    expect(page.locator("#experiments")).to_contain_text("No optimizer runs yet")
    assert page.locator("#lab-controls").count() == 0
    screenshot(page, "03-instance-detail-rogue")

    page.get_by_role("link", name="Terminate rogue instance").click()
    page.wait_for_url(re.compile(r"/approvals/"))
    page.get_by_role("link", name=ROGUE).click()
    page.wait_for_url(f"{live_server.url}/fleet/instances/{estate['rogue'].pk}/")


def test_a_lab_user_changes_the_lab_controls_of_a_lab_instance(
    live_server,
    browser_page,  # noqa: F811
    make_user,
    make_account,
    make_instance,
    make_ml_model,
    make_experiment,
):
    page = browser_page
    owner = make_user(Role.CLIENT)
    lab_account = make_account(owner, account_name="ML sandbox", environment_type=EnvironmentType.LAB)
    make_ml_model(name="risk-gbm", version="2.4.0")
    instance = make_instance(
        lab_account,
        instance_id="i-0lab000000000001",
        **node(1, "sandbox-eks", "exp-a"),
    )
    for n, decision in enumerate(["SWITCH", "HOLD", "FALLBACK_ONDEMAND"]):
        make_experiment(
            instance,
            decision=decision,
            execution_time=timezone.now() - timedelta(hours=n),
            selected_instance_type="c6i.xlarge" if decision == "SWITCH" else "",
            selected_availability_zone="us-east-1a" if decision == "SWITCH" else "",
            is_shadow_run=True,
        )
    lab_user = make_user(Role.LAB, full_name="Lee Lab")
    sign_in(page, live_server, lab_user.username)
    page.goto(f"{live_server.url}/fleet/instances/{instance.pk}/")
    form = page.locator("#lab-controls")
    expect(form).to_be_visible()
    form.get_by_label("Linear").check()
    form.get_by_label(re.compile("Shadow mode")).check()
    form.get_by_label("Assigned model version").select_option("2.4.0")
    screenshot(page, "04-instance-detail-lab-form")
    form.get_by_role("button", name="Save Lab controls").click()
    page.wait_for_url(f"{live_server.url}/fleet/instances/{instance.pk}/")
    expect(page.locator(".messages")).to_contain_text(
        "Lab controls saved: pipeline mode Linear, shadow mode on, model version 2.4.0."
    )
    expect(page.locator("#optimizer")).to_contain_text("2.4.0")
    instance.refresh_from_db()
    assert (instance.pipeline_mode, instance.is_shadow_mode, instance.assigned_model_version) == (
        "LINEAR",
        True,
        "2.4.0",
    )
    screenshot(page, "05-instance-detail-lab-saved")


def test_a_new_customer_is_told_to_connect_an_account(
    live_server,
    browser_page,  # noqa: F811
    make_user,
):
    page = browser_page
    sign_in(page, live_server, make_user(Role.CLIENT).username)
    page.goto(f"{live_server.url}/fleet/")
    expect(page.get_by_role("heading", name="No AWS account connected yet")).to_be_visible()
    screenshot(page, "06-fleet-empty")
    page.get_by_role("link", name="Connect an AWS account").click()
    page.wait_for_url(f"{live_server.url}/accounts/connect/")
