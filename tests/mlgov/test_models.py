"""Database rules of mlgov.MLModel (one active production model) and mlgov.ExperimentLog."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from mlgov.choices import Decision, ModelStatus
from mlgov.models import ExperimentLog, MLModel
from tests.helpers import assert_update_rejected

SINGLE_ACTIVE_PROD = r"mlmodel_single_active_prod|mlgov_mlmodel\.is_active_prod"


@pytest.fixture
def instance(client_user, make_account, make_instance):
    return make_instance(make_account(client_user))


# --- MLModel ------------------------------------------------------------------------------------------


def test_a_second_active_production_model_is_rejected(make_ml_model):
    first = make_ml_model(status=ModelStatus.ENABLED, is_active_prod=True)
    second = make_ml_model(status=ModelStatus.ENABLED)

    second.is_active_prod = True
    with pytest.raises(IntegrityError, match=SINGLE_ACTIVE_PROD), transaction.atomic():
        second.save()
    assert_update_rejected(MLModel.objects.filter(pk=second.pk), SINGLE_ACTIVE_PROD, is_active_prod=True)
    with pytest.raises(IntegrityError, match=SINGLE_ACTIVE_PROD), transaction.atomic():
        make_ml_model(status=ModelStatus.ENABLED, is_active_prod=True)

    assert list(MLModel.objects.filter(is_active_prod=True)) == [first]


def test_production_can_be_handed_over_once_the_old_model_steps_down(make_ml_model):
    first = make_ml_model(status=ModelStatus.ENABLED, is_active_prod=True)
    second = make_ml_model(status=ModelStatus.ENABLED)
    with transaction.atomic():
        MLModel.objects.filter(pk=first.pk).update(is_active_prod=False)
        MLModel.objects.filter(pk=second.pk).update(is_active_prod=True)
    assert list(MLModel.objects.filter(is_active_prod=True)) == [second]


def test_any_number_of_models_may_be_out_of_production(make_ml_model):
    for _ in range(3):
        make_ml_model(status=ModelStatus.ENABLED, is_active_prod=False)
    assert MLModel.objects.filter(is_active_prod=False).count() == 3


@pytest.mark.parametrize("status", [s for s in ModelStatus.values if s != ModelStatus.ENABLED])
def test_the_active_production_model_must_be_enabled(make_ml_model, status):
    with pytest.raises(IntegrityError, match="mlmodel_active_prod_is_enabled"), transaction.atomic():
        make_ml_model(status=status, is_active_prod=True)
    model = make_ml_model(status=ModelStatus.ENABLED, is_active_prod=True)
    assert_update_rejected(MLModel.objects.filter(pk=model.pk), "mlmodel_active_prod_is_enabled", status=status)


def test_invalid_model_status_is_rejected_by_the_database(make_ml_model):
    model = make_ml_model()
    assert_update_rejected(MLModel.objects.filter(pk=model.pk), "mlmodel_status_valid", status="PRODUCTION")
    model.refresh_from_db()
    assert model.status == ModelStatus.CANDIDATE


@pytest.mark.parametrize("bad_hash", ["", "abc123", "A" * 64, "g" * 64, "a" * 63])
def test_file_hash_must_be_a_lowercase_sha256(make_ml_model, bad_hash):
    model = make_ml_model()
    assert len(model.file_hash) == 64
    assert_update_rejected(MLModel.objects.filter(pk=model.pk), "mlmodel_file_hash_sha256", file_hash=bad_hash)


def test_model_names_are_unique(make_ml_model):
    make_ml_model(name="risk-v1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_ml_model(name="risk-v1")
    assert MLModel.objects.filter(name="risk-v1").count() == 1


def test_model_move_is_saved(make_ml_model):
    model = make_ml_model()
    for status in (ModelStatus.TESTING, ModelStatus.GRADUATED, ModelStatus.ENABLED):
        model.move_to(status)
        model.save()
    model.refresh_from_db()
    assert model.status == ModelStatus.ENABLED


def test_models_outlive_their_uploader(make_user, make_ml_model):
    uploader = make_user()
    model = make_ml_model(uploaded_by=uploader)
    uploader.delete()
    model.refresh_from_db()
    assert model.uploaded_by_id is None


# --- ExperimentLog ------------------------------------------------------------------------------------


def test_decision_stay_is_stored_as_hold(instance, make_experiment):
    log = make_experiment(instance, decision="STAY")
    assert log.decision == Decision.HOLD
    log.refresh_from_db()
    assert log.decision == "HOLD"
    assert ExperimentLog.objects.filter(decision="STAY").count() == 0


def test_stay_written_around_save_is_rejected_by_the_database(instance, make_experiment):
    log = make_experiment(instance)
    assert_update_rejected(ExperimentLog.objects.filter(pk=log.pk), "experimentlog_decision_valid", decision="STAY")


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"old_spot_price": Decimal("-0.000001")}, "experimentlog_old_spot_price_non_negative"),
        ({"new_spot_price": Decimal("-1")}, "experimentlog_new_spot_price_non_negative"),
        ({"prediction_score": 1.0001}, "experimentlog_prediction_score_0_1"),
        ({"prediction_score": -0.01}, "experimentlog_prediction_score_0_1"),
        ({"pipeline_mode": "PARALLEL"}, "experimentlog_pipeline_mode_valid"),
        ({"decision": "MAYBE"}, "experimentlog_decision_valid"),
    ],
)
def test_invalid_experiment_values_are_rejected_by_the_database(instance, make_experiment, values, constraint):
    log = make_experiment(instance)
    assert_update_rejected(ExperimentLog.objects.filter(pk=log.pk), constraint, **values)


def test_boundary_and_empty_experiment_values_are_accepted(instance, make_experiment):
    log = make_experiment(instance)
    for values in (
        {"prediction_score": 0.0},
        {"prediction_score": 1.0},
        {"prediction_score": None},
        {"old_spot_price": Decimal("0"), "new_spot_price": None},
        # A fallback to on-demand costs more than the spot price it leaves: savings can be negative.
        {"projected_hourly_savings": Decimal("-0.125")},
    ):
        ExperimentLog.objects.filter(pk=log.pk).update(**values)
        log.refresh_from_db()
        for field, value in values.items():
            assert getattr(log, field) == value


def test_experiment_money_is_decimal(instance, make_experiment):
    log = make_experiment(instance, old_spot_price=Decimal("0.041700"), projected_hourly_savings=Decimal("0.0117"))
    log.refresh_from_db()
    assert log.old_spot_price == Decimal("0.041700")
    assert isinstance(log.projected_hourly_savings, Decimal)


def test_experiment_logs_keep_their_history_when_the_model_is_deleted(instance, make_experiment, make_ml_model):
    model = make_ml_model()
    log = make_experiment(instance, model=model)
    model.delete()
    log.refresh_from_db()
    assert log.model_id is None


def test_experiment_logs_are_deleted_with_their_instance(instance, make_experiment):
    log = make_experiment(instance)
    instance.delete()
    assert not ExperimentLog.objects.filter(pk=log.pk).exists()
