"""The recommended onboarding in the demo's configuration (demo/demo.env), in a real browser: the demo's client
signs in, connects an account with a CloudFormation role and downloads the template, which trusts the demo's
platform role with the account's External ID. (Before the demo configured its platform principal, this page
showed an operator's setting name to the customer and offered no template.)"""

import json

import pytest

from accounts.models import Account
from demo.seed import DEMO_CLIENT_USERNAME, demo_users_ensure
from tests.aws_fixtures import moto  # noqa: F401
from tests.browser import browser_page, screenshot, sign_in  # noqa: F401
from tests.demo.config import demo_env, demo_settings

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("moto")]


def test_the_demo_client_connects_with_cloudformation_up_to_the_template_download(
    live_server,
    browser_page,  # noqa: F811 (the fixture imported above)
    settings,
):
    demo_settings(settings)
    page = browser_page
    password = next(user.password for user in demo_users_ensure() if user.username == DEMO_CLIENT_USERNAME)

    sign_in(page, live_server, DEMO_CLIENT_USERNAME, password)

    page.goto(f"{live_server.url}/accounts/connect/")
    panel = page.locator("#panel-role")
    panel.get_by_label("Account name").fill("Acme Staging")
    panel.get_by_role("button", name="Continue to the CloudFormation step").click()
    account = Account.objects.get(account_name="Acme Staging")
    page.wait_for_url(f"{live_server.url}/accounts/{account.pk}/")

    assert page.locator("#external-id").inner_text() == account.external_id
    assert "operator" not in page.locator("#main").inner_text()  # no "finish the setup" alert
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download template (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == f"spotopt-{account.external_id}.json"
    template = json.loads(download.path().read_text())
    parameters = template["Parameters"]
    assert parameters["ExternalId"]["Default"] == account.external_id
    assert parameters["PlatformPrincipalArn"]["Default"] == demo_env()["PLATFORM_AWS_PRINCIPAL_ARN"]
    trust = template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    screenshot(page, "demo-onboarding-template")
