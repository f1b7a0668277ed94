"""/api/v1/models/: who may read and act (customers and anonymous never), upload through multipart (refused
with the reason), the lifecycle and activation, and a constant query count for the list."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.choices import Role
from mlgov.choices import ModelStatus
from mlgov.models import MLModel
from mlgov.services import model_move, model_upload
from tests.api_contract import api_as, assert_error, query_count
from tests.mlgov.onnx_models import BASELINE, pickled, risk_model

pytestmark = pytest.mark.django_db
MODELS = "/api/v1/models/"
LAB_REFUSAL = "Models are governed in the Lab: lab users, admins and super_admins only."


def make_model(user, n=0):
    return model_upload(user=user, name=f"risk-{n}", version="1", feature_schema_version="1", data=risk_model())


def _upload_body(data: bytes, name="baseline"):
    return {"name": name, "version": "1.0", "feature_schema_version": "1", "file": SimpleUploadedFile("m.onnx", data)}


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER])
def test_customers_and_anonymous_are_refused_everything(make_user, lab_user, role):
    model = make_model(lab_user)
    who = make_user(role)
    calls = [
        ("get", MODELS, None),
        ("get", f"{MODELS}{model.pk}/", None),
        ("post", f"{MODELS}{model.pk}/move/", {"status": "TESTING"}),
        ("post", f"{MODELS}{model.pk}/activate/", {}),
    ]
    for method, url, body in calls:
        body_403 = assert_error(getattr(api_as(who), method)(url, body, format="json"), 403)
        assert body_403["detail"] == LAB_REFUSAL and model.name not in str(body_403)
        assert_error(getattr(api_as(), method)(url, body, format="json"), 401)
    assert_error(api_as(who).post(MODELS, _upload_body(risk_model()), format="multipart"), 403)
    assert MLModel.objects.get().status == ModelStatus.CANDIDATE


def test_a_lab_user_uploads_and_moves_a_model_and_a_super_admin_activates_it(lab_user, make_user):
    response = api_as(lab_user).post(MODELS, _upload_body(BASELINE.read_bytes()), format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "CANDIDATE" and len(body["file_hash"]) == 64 and body["uploaded_by"] == lab_user.username
    url = f"{MODELS}{body['id']}/"
    for status in ("TESTING", "GRADUATED"):
        assert api_as(lab_user).post(f"{url}move/", {"status": status}, format="json").json()["status"] == status
    assert_error(api_as(lab_user).post(f"{url}move/", {"status": "ENABLED"}, format="json"), 403)
    boss = make_user(Role.SUPER_ADMIN)
    assert_error(api_as(boss).post(f"{url}activate/", {}, format="json"), 409)  # graduated, not enabled
    assert api_as(boss).post(f"{url}move/", {"status": "ENABLED"}, format="json").status_code == 200
    active = api_as(boss).post(f"{url}activate/", {"note": "baseline goes live"}, format="json").json()
    assert active["is_active_prod"] is True
    detail = api_as(lab_user).get(url).json()
    assert [m["to_status"] for m in detail["moves"]][:2] == ["ENABLED", "ENABLED"]
    assert detail["moves"][0]["activated"] is True and detail["moves"][0]["note"] == "baseline goes live"
    assert_error(api_as(boss).post(f"{url}move/", {"status": "NOPE"}, format="json"), 400)


def test_an_unsafe_upload_is_a_400_with_the_reason(lab_user):
    body = assert_error(api_as(lab_user).post(MODELS, _upload_body(pickled()), format="multipart"), 400)
    assert "pickle" in body["detail"] and body["code"] == "model_refused"
    body = assert_error(api_as(lab_user).post(MODELS, _upload_body(risk_model(5)), format="multipart"), 400)
    assert "tensor(float) [batch, 14]" in body["detail"]
    assert_error(api_as(lab_user).post(MODELS, {"name": "x", "version": "1"}, format="multipart"), 400)
    assert not MLModel.objects.exists()


def test_the_list_makes_as_many_queries_for_many_models_as_for_one(lab_user):
    api = api_as(lab_user)
    model = make_model(lab_user, 0)
    model_move(user=lab_user, model=model, status=ModelStatus.TESTING)
    query_count(api, MODELS)
    few, _ = query_count(api, MODELS)
    for n in range(1, 12):
        make_model(lab_user, n)
    many, response = query_count(api, MODELS)
    assert many == few and len(response.json()["results"]) == 12
