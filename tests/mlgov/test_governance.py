"""Model governance: what an upload refuses (never unpickling), the SHA-256 checked on every load, the
lifecycle by role with every move recorded, and the one active production model."""

import io
import zipfile

import numpy
import pytest

from accounts.choices import Role
from mlgov import services
from mlgov.choices import ModelStatus
from mlgov.models import MLModel, ModelMove
from mlgov.services import ModelTampered, model_activate, model_move, model_score, model_upload
from mlgov.validation import ModelRefused, model_inspect
from spotopt.errors import Conflict, DomainError, PermissionRefused
from tests.mlgov.onnx_models import BASELINE, WIDTH, pickled, risk_model

pytestmark = pytest.mark.django_db


def upload(user, name="risk-v1", data=None, schema="1", **fields):
    return model_upload(
        user=user,
        name=name,
        version=fields.pop("version", "1.0"),
        feature_schema_version=schema,
        data=risk_model() if data is None else data,
        **fields,
    )


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.pt", b"weights")
    return buffer.getvalue()


def test_the_shipped_baseline_model_is_accepted_and_scores():
    inspection = model_inspect(BASELINE.read_bytes(), feature_schema_version="1")
    assert (inspection.input_name, inspection.width) == ("input", WIDTH)
    assert "probabilities" in inspection.outputs and set(inspection.opsets) == {"ai.onnx", "ai.onnx.ml"}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param(pickled(), "Python pickle", id="pickle"),
        pytest.param(b"hello, I am a text file", "not a valid ONNX model", id="not-onnx"),
        pytest.param(_zip(), "zip archive", id="zip"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(risk_model(3), "gives tensor(float) [batch, 14]", id="wrong-inputs"),
        pytest.param(risk_model(output="scores"), "no 'probabilities' output", id="wrong-outputs"),
        pytest.param(risk_model(domain="com.evil"), "custom operator domain 'com.evil'", id="custom-op"),
        pytest.param(risk_model(external=True), "external data", id="external-data"),
    ],
)
def test_an_upload_that_is_not_a_safe_onnx_model_is_refused_and_nothing_is_stored(lab_user, data, says, tmp_path):
    with pytest.raises(ModelRefused) as refused:
        upload(lab_user, data=data)
    assert says in refused.value.message
    assert not MLModel.objects.exists()
    assert not list((tmp_path / "media").rglob("*.onnx"))


def test_a_file_over_the_size_limit_is_refused(lab_user, settings):
    settings.MLMODEL_MAX_BYTES = 100
    with pytest.raises(ModelRefused, match="at most 100 bytes"):
        upload(lab_user)


def test_pickles_are_never_loaded(lab_user, monkeypatch):
    import pickle

    def boom(*args, **kwargs):
        raise AssertionError("pickle.loads was called")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    with pytest.raises(ModelRefused):
        upload(lab_user, data=pickled())


def test_an_upload_is_hashed_and_a_tampered_file_refuses_to_score(lab_user):
    model = upload(lab_user, data=BASELINE.read_bytes())
    assert model.status == ModelStatus.CANDIDATE and model.file_hash == services.sha256_of(BASELINE.read_bytes())
    rows = numpy.zeros((4, WIDTH), dtype=numpy.float32)
    scores = model_score(model, rows)
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()

    with open(model.file.path, "r+b") as handle:  # somebody changes the stored file
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(ModelTampered, match="SHA-256 differs"):
        model_score(model, rows)


def test_a_duplicate_name_is_a_conflict(lab_user):
    upload(lab_user)
    with pytest.raises(Conflict):
        upload(lab_user)


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER])
def test_customers_cannot_upload_or_move_models(make_user, lab_user, role):
    who = make_user(role)
    with pytest.raises(PermissionRefused):
        upload(who)
    model = upload(lab_user)
    with pytest.raises(PermissionRefused):
        model_move(user=who, model=model, status=ModelStatus.TESTING)


def test_the_lifecycle_by_role_with_every_move_recorded(lab_user, make_user):
    boss = make_user(Role.SUPER_ADMIN)
    model = upload(lab_user)
    model = model_move(user=lab_user, model=model, status=ModelStatus.TESTING)
    model = model_move(user=lab_user, model=model, status=ModelStatus.GRADUATED)
    assert model.graduated_at is not None
    with pytest.raises(PermissionRefused):
        model_move(user=lab_user, model=model, status=ModelStatus.ENABLED)
    with pytest.raises(PermissionRefused):
        model_activate(user=lab_user, model=model)
    with pytest.raises(Conflict):
        model_activate(user=boss, model=model)  # not enabled yet
    model = model_move(user=boss, model=model, status=ModelStatus.ENABLED)
    model = model_activate(user=boss, model=model)
    assert model.is_active_prod
    with pytest.raises(PermissionRefused):  # lab users do not retire the production model
        model_move(user=lab_user, model=model, status=ModelStatus.ARCHIVED)
    model = model_move(user=boss, model=model, status=ModelStatus.ARCHIVED)
    assert not model.is_active_prod and model.archived_at
    with pytest.raises(DomainError):
        model_move(user=boss, model=model, status=ModelStatus.CANDIDATE)  # archived is final
    moves = list(
        ModelMove.objects.filter(model=model)
        .order_by("at")
        .values_list("from_status", "to_status", "by_username", "activated", "deactivated")
    )
    assert moves == [
        ("CANDIDATE", "CANDIDATE", lab_user.username, False, False),  # the upload
        ("CANDIDATE", "TESTING", lab_user.username, False, False),
        ("TESTING", "GRADUATED", lab_user.username, False, False),
        ("GRADUATED", "ENABLED", boss.username, False, False),
        ("ENABLED", "ENABLED", boss.username, True, False),
        ("ENABLED", "ARCHIVED", boss.username, False, True),
    ]


def test_an_unknown_feature_schema_cannot_leave_candidate_but_can_be_archived(lab_user):
    model = upload(lab_user, schema="9")
    with pytest.raises(DomainError, match="does not provide feature schema 9"):
        model_move(user=lab_user, model=model, status=ModelStatus.TESTING)
    assert model_move(user=lab_user, model=model, status=ModelStatus.ARCHIVED).status == ModelStatus.ARCHIVED


def test_activating_another_model_swaps_the_production_model(lab_user, make_user):
    boss = make_user(Role.SUPER_ADMIN)
    first, second = (upload(lab_user, name=f"risk-{n}") for n in (1, 2))
    for model in (first, second):
        for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
            model = model_move(user=lab_user, model=model, status=status)
        model_move(user=boss, model=model, status=ModelStatus.ENABLED)
    model_activate(user=boss, model=first)
    model_activate(user=boss, model=second)
    assert list(MLModel.objects.filter(is_active_prod=True)) == [second]
    assert MLModel.objects.get(pk=first.pk).status == ModelStatus.ENABLED
