"""The optimizer's evaluation over moto's instance-type catalog, a price history written as steps, the hive
and the shipped baseline model: SWITCH, HOLD, FALLBACK_ONDEMAND and FAILED, each with a complete log row
and a reason; incompatible types and poisoned pools are never chosen."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.choices import EnvironmentType, Role
from fleet.catalog import compatible_spot_pools
from fleet.choices import Lifecycle, MarketSource, PriceSource
from fleet.models import OnDemandPrice, SpotPriceStep
from fleet.optimizer import NOT_EXECUTED, optimizer_evaluate
from mlgov.choices import Decision, ModelStatus
from mlgov.models import ExperimentLog
from mlgov.services import model_activate, model_move, model_upload
from tests.aws_fixtures import moto  # noqa: F401
from tests.fleet.conftest import REGION
from tests.fleet.test_catalog import instance_of
from tests.mlgov.onnx_models import BASELINE
from tests.risk.factories import make_pool

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto", "catalog")]


@pytest.fixture
def production_model(make_user):
    lab, boss = make_user(Role.LAB), make_user(Role.SUPER_ADMIN)
    model = model_upload(user=lab, name="baseline", version="1", feature_schema_version="1", data=BASELINE.read_bytes())
    for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
        model = model_move(user=lab, model=model, status=status)
    model = model_move(user=boss, model=model, status=ModelStatus.ENABLED)
    return model_activate(user=boss, model=model)


def prices(pools, price, **special):
    """A steady week of price steps for every pool (`special`: pool type -> its price), and each type's
    on-demand price as the Pricing API would answer it ($0.096 an hour, m5.large's)."""
    now = timezone.now()
    OnDemandPrice.objects.bulk_create(
        [
            OnDemandPrice(
                region=REGION, instance_type=t, price=Decimal("0.096"), source=MarketSource.PRICING_API, fetched_at=now
            )
            for t in {pool[2] for pool in pools}
        ],
        ignore_conflicts=True,
    )
    SpotPriceStep.objects.bulk_create(
        SpotPriceStep(
            region=region,
            availability_zone=zone,
            instance_type=instance_type,
            price=Decimal(str(special.get(instance_type, price))),
            observed_at=now - timedelta(days=days),
            source=MarketSource.SYNTHETIC,
        )
        for region, zone, instance_type in pools
        for days in (6, 3, 1)
    )


def m5(account, make_instance, **fields):
    instance = instance_of(
        account,
        make_instance,
        "m5.large",
        zone="us-east-1a",
        hourly_price=Decimal("0.096"),
        price_source=PriceSource.ON_DEMAND_LIST,
        **fields,
    )
    return instance, compatible_spot_pools(instance=instance, allowed=[], denied=[])


def test_a_much_cheaper_calm_pool_is_a_switch_with_a_complete_log(catalog_account, make_instance, production_model):
    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.090", **{"m5a.large": "0.030"})

    (log,) = optimizer_evaluate(instances=[instance])

    log = ExperimentLog.objects.get(pk=log.pk)
    assert log.decision == Decision.SWITCH, log.decision_reason
    assert (log.selected_instance_type, log.selected_availability_zone) == ("m5a.large", "us-east-1a")
    assert log.decision_reason.startswith("m5a.large in us-east-1a: 69 % cheaper than m5.large in us-east-1a, risk ")
    assert log.old_spot_price == Decimal("0.096") and log.new_spot_price == Decimal("0.030000")
    assert log.projected_hourly_savings == Decimal("0.066000")
    assert log.model == production_model and 0 <= log.prediction_score <= 0.15
    assert log.candidates_evaluated == len(pools)
    assert log.execution_duration_ms is not None and log.pipeline_mode == instance.pipeline_mode
    features = log.features_used
    assert features["schema"] == "1" and len(features["chosen"]) == len(features["names"]) == 14
    assert features["model_sha256"] == production_model.file_hash and features["execution"] == NOT_EXECUTED
    rows = {row["pool"]: row for row in features["candidates"]}
    assert rows[f"{REGION}:us-east-1a:m5a.large"]["saving"] == 0.6875
    # Only compatible types: no 4 GiB, arm64 or burstable type is a candidate.
    assert not {pool.split(":")[2] for pool in rows} & {"c5.large", "m6g.large", "t3.large"}


def test_a_poisoned_pool_is_never_chosen(catalog_account, make_instance, production_model):
    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.090", **{"m5a.large": "0.030", "m6i.large": "0.040"})
    make_pool(region=REGION, availability_zone="us-east-1a", instance_type="m5a.large")

    (log,) = optimizer_evaluate(instances=[instance])

    assert log.decision == Decision.SWITCH and log.selected_instance_type == "m6i.large"
    excluded = {row["pool"]: row["excluded"] for row in log.features_used["candidates"]}
    assert excluded[f"{REGION}:us-east-1a:m5a.large"] == "poisoned"


def test_no_pool_cheap_enough_is_a_hold_that_says_why(catalog_account, make_instance, production_model):
    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.090")

    (log,) = optimizer_evaluate(instances=[instance])

    assert log.decision == Decision.HOLD and log.selected_instance_type == ""
    assert "no pool saves at least 20 %" in log.decision_reason and log.new_spot_price is None


def test_a_model_answering_nan_or_out_of_range_never_makes_a_pool_look_safe(
    catalog_account, make_instance, production_model, monkeypatch
):
    """NaN is no answer (the candidate is unscored); values outside [0, 1] are clamped, so a broken model
    giving -3 cannot rank a pool safer than a calm one at 0."""
    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.090", **{"m5a.large": "0.030", "m6i.large": "0.040"})

    def broken(model, matrix):
        return [float("nan") if i % 2 == 0 else 7.0 for i in range(len(matrix))]

    monkeypatch.setattr("fleet.optimizer.model_score", broken)
    (log,) = optimizer_evaluate(instances=[instance])

    risks = [row["risk"] for row in log.features_used["candidates"] if not row["excluded"]]
    assert None in risks and set(risks) <= {None, 1.0}
    assert log.decision == Decision.HOLD, log.decision_reason


def test_a_spot_instance_in_a_poisoned_pool_with_nowhere_safe_falls_back_to_on_demand(
    catalog_account,
    make_instance,
    production_model,
):
    instance, pools = m5(catalog_account, make_instance, lifecycle=Lifecycle.SPOT)
    instance.hourly_price, instance.price_source = Decimal("0.035"), PriceSource.SPOT_MARKET
    prices(pools, "0.090", **{"m5.large": "0.035"})
    make_pool(region=REGION, availability_zone="us-east-1a", instance_type="m5.large")

    (log,) = optimizer_evaluate(instances=[instance])

    assert log.decision == Decision.FALLBACK_ONDEMAND
    assert "its pool is poisoned by the hive" in log.decision_reason
    assert log.new_spot_price == Decimal("0.096000")  # the catalog's on-demand price
    assert log.projected_hourly_savings == Decimal("-0.061000")  # a fallback costs more


def test_without_an_active_production_model_the_decision_fails_with_the_reason(catalog_account, make_instance):
    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.030")

    (log,) = optimizer_evaluate(instances=[instance])

    assert log.decision == Decision.FAILED and log.model is None
    assert log.error_message == "no production model is active: a super_admin activates one in the Lab"


def test_a_tampered_model_fails_the_decision_and_scores_nothing(catalog_account, make_instance, production_model):
    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.030")
    with open(production_model.file.path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff\xfe")

    (log,) = optimizer_evaluate(instances=[instance])

    assert log.decision == Decision.FAILED and "SHA-256 differs" in log.error_message
    assert log.prediction_score is None


def test_a_lab_instance_is_scored_by_its_assigned_model(make_account, client_user, make_instance, make_user):
    lab_account = make_account(client_user, environment_type=EnvironmentType.LAB, regions=[REGION])
    lab = make_user(Role.LAB)
    model = model_upload(
        user=lab, name="candidate-2", version="2.0", feature_schema_version="1", data=BASELINE.read_bytes()
    )
    model = model_move(user=lab, model=model, status=ModelStatus.TESTING)
    instance, pools = m5(lab_account, make_instance, assigned_model_version="2.0")
    prices(pools, "0.090", **{"m5a.large": "0.030"})

    (log,) = optimizer_evaluate(instances=[instance])

    assert log.model == model and log.decision == Decision.SWITCH


def test_the_optimize_command_prints_the_decisions_and_dry_run_writes_nothing(
    catalog_account, make_instance, production_model
):
    import io

    from django.core.management import CommandError, call_command

    instance, pools = m5(catalog_account, make_instance)
    prices(pools, "0.090", **{"m5a.large": "0.030"})
    out = io.StringIO()
    call_command("optimize", "--account", catalog_account.account_id, "--dry-run", "--verbose-reasons", stdout=out)
    assert not ExperimentLog.objects.exists()
    text = out.getvalue()
    assert "[dry run]" in text and "1 SWITCH" in text and "$0.0660/hour" in text
    assert f"{instance.instance_id}: SWITCH: m5a.large in us-east-1a" in text and "nothing executed" in text

    out = io.StringIO()
    call_command("optimize", "--verbose-reasons", stdout=out)
    assert ExperimentLog.objects.get().decision == Decision.SWITCH
    # A PROD account without automatic switches: the switch is filed for approval, nothing runs.
    assert "1 awaiting approval" in out.getvalue() and "[awaiting approval" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("optimize", "--account", "999999999999", stdout=io.StringIO())
