"""The savings preview (issue 13): the optimizer's evaluation of an account as a dry run, summed into a
monthly saving, with every instance it would leave alone and why; stored on the account, shown on its page
and in the API; outsiders get a 404, roles that do not manage the account cannot make one."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.choices import Role
from fleet.choices import OrchestratorType
from fleet.models import Instance, Switch
from fleet.optimizer import KEEP_ON_DEMAND_TAG
from fleet.preview import savings_preview
from mlgov.models import ExperimentLog
from tests.api_contract import api_as, assert_error
from tests.aws_fixtures import moto  # noqa: F401
from tests.fleet.test_optimizer import m5, prices, production_model  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto", "catalog")]


def tagged(instance, **tags):
    metadata = dict(instance.instance_metadata, tags={**instance.tags, **tags})
    Instance.objects.filter(pk=instance.pk).update(instance_metadata=metadata)
    return Instance.objects.select_related("account").get(pk=instance.pk)


@pytest.fixture
def estate(catalog_account, make_instance, production_model):  # noqa: F811
    moving, pools = m5(catalog_account, make_instance)
    prices(pools, "0.090", **{"m5a.large": "0.030"})
    kept, _ = m5(catalog_account, make_instance)
    kept = tagged(kept, **{KEEP_ON_DEMAND_TAG: "true"})
    node, _ = m5(
        catalog_account,
        make_instance,
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "shop"},
    )
    return {"moving": moving, "kept": kept, "node": node}


def test_the_preview_sums_the_moves_and_says_why_the_rest_stays(catalog_account, estate):
    preview = savings_preview(account=catalog_account)

    assert preview["instances"] == 3 and preview["currency"] == "USD"
    (move,) = preview["moves"]
    assert move["instance_id"] == estate["moving"].instance_id
    assert move["target"] == "m5a.large in us-east-1a (Spot)"
    # $0.096 -> $0.030 an hour, 730 hours.
    assert Decimal(move["monthly_saving"]) == Decimal("48.18") == Decimal(preview["monthly_saving"])
    assert Decimal(preview["current_monthly_cost"]) == Decimal("210.24")  # 3 x $0.096 x 730
    left = {row["instance_id"]: row["reason"] for row in preview["left_alone"]}
    assert f"tagged {KEEP_ON_DEMAND_TAG}, so it stays on-demand" in left[estate["kept"].instance_id]
    assert "spotopt cannot reach that cluster" in left[estate["node"].instance_id]
    # A dry run: no log row, no switch; kept on the account.
    assert not ExperimentLog.objects.exists() and not Switch.objects.exists()
    catalog_account.refresh_from_db()
    assert catalog_account.account_metadata["savings_preview"] == preview


def test_the_page_and_the_api_show_it_to_the_tenant_only(catalog_account, estate, client, make_user, other_client):
    owner = catalog_account.user
    client.force_login(owner)
    page = client.get(reverse("account_detail", args=[catalog_account.pk])).content.decode()
    assert "Savings preview" in page and "No preview yet" in page
    response = client.post(reverse("savings_preview", args=[catalog_account.pk]))
    assert response.status_code == 302
    page = client.get(reverse("account_detail", args=[catalog_account.pk])).content.decode()
    assert "$48.18 a month" in page and "Left alone (2), and why" in page and "cannot reach that cluster" in page
    made = catalog_account.__class__.objects.get(pk=catalog_account.pk).account_metadata["savings_preview"]
    assert f"Estimated {made['computed_at'][:10]} {made['computed_at'][11:16]} UTC" in page

    url = f"/api/v1/accounts/{catalog_account.pk}/savings-preview/"
    answer = api_as(owner).get(url)
    assert answer.status_code == 200 and answer.json()["monthly_saving"] == "48.18"
    assert_error(api_as(other_client).get(url), 404)
    assert_error(api_as(other_client).post(url), 404)
    assert_error(api_as(make_user(Role.LAB)).post(url), 403)
    outsider = client.__class__()
    outsider.force_login(other_client)
    assert outsider.post(reverse("savings_preview", args=[catalog_account.pk])).status_code == 404


def test_an_account_without_a_preview_answers_404_with_what_to_do(catalog_account):
    response = api_as(catalog_account.user).get(f"/api/v1/accounts/{catalog_account.pk}/savings-preview/")
    assert "POST to make one" in assert_error(response, 404)["detail"]
