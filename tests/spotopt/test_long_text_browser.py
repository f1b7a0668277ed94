"""Long unbroken text (a 255-character account name, the longest its column takes; a 5,000-character comment)
wraps on every page instead of stretching it sideways: measured in a real browser, the page is never wider
than the window."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.choices import Role
from approvals.choices import ApprovalStatus
from tests.browser import VIEWPORT, browser_page, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

LONG_NAME = "Payments" + "x" * 247
LONG_COMMENT = "NoSpacesInThisComment" * 240


def test_long_names_and_comments_wrap_on_every_page(
    live_server,
    browser_page,  # noqa: F811 (the fixture imported above)
    make_user,
    make_account,
    make_instance,
    make_approval,
):
    client = make_user(Role.CLIENT)
    account = make_account(client, account_name=LONG_NAME)
    instance = make_instance(
        account, instance_metadata={"name": "n" * 400, "tags": {"Name": "n" * 400, "k" * 120: "v" * 300}}
    )
    approval = make_approval(
        account=account,
        instance=instance,
        status=ApprovalStatus.REJECTED,
        decided_at=timezone.now() - timedelta(hours=1),
        decision_comment=LONG_COMMENT,
        action_payload={"instance_id": instance.instance_id, "region": "us-east-1", "reason": LONG_COMMENT},
    )
    page = browser_page
    sign_in(page, live_server, client.username)

    for path in (
        "/accounts/",
        f"/accounts/{account.pk}/",
        f"/accounts/{account.pk}/remove/",
        "/fleet/",
        f"/fleet/instances/{instance.pk}/",
        "/approvals/",
        f"/approvals/{approval.pk}/",
    ):
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORT["width"], f"{path} is {width} px wide"
