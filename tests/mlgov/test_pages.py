"""The Lab's model pages: who may see and act (customers never), the upload form (refusals shown on it),
moves by role, activation, the comparison table; a constant query count."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.choices import Role
from mlgov.choices import ModelStatus
from mlgov.models import MLModel
from mlgov.services import model_move
from tests.helpers import changelist_query_count
from tests.mlgov.onnx_models import BASELINE, pickled
from tests.mlgov.test_api import make_model
from tests.sla.test_pages import html, signed_in

pytestmark = pytest.mark.django_db
HOME = reverse("lab_home")
UPLOAD = reverse("lab_model_upload")


def _form(data: bytes, name="baseline"):
    return {"name": name, "version": "1", "feature_schema_version": "1", "file": SimpleUploadedFile("m.onnx", data)}


def test_the_lab_needs_sign_in_and_a_lab_role(client, make_user, lab_user):
    model = make_model(lab_user)
    for url in (HOME, reverse("lab_model_detail", args=[model.pk])):
        assert client.get(url).status_code == 302
        for role in (Role.CLIENT, Role.USER):
            assert signed_in(make_user(role)).get(url).status_code == 403
    for role in (Role.CLIENT, Role.USER):
        who = signed_in(make_user(role))
        assert who.post(UPLOAD, _form(BASELINE.read_bytes())).status_code == 403
        assert who.post(reverse("lab_model_move", args=[model.pk]), {"status": "TESTING"}).status_code == 403
        assert who.post(reverse("lab_model_activate", args=[model.pk])).status_code == 403
    assert MLModel.objects.get().status == ModelStatus.CANDIDATE


def test_a_lab_user_uploads_sees_and_moves_a_model(lab_user):
    client = signed_in(lab_user)
    response = client.post(UPLOAD, _form(BASELINE.read_bytes()), follow=True)
    page = html(response)
    model = MLModel.objects.get(name="baseline")
    assert "uploaded as a candidate" in page and model.file_hash in page
    client.post(reverse("lab_model_move", args=[model.pk]), {"status": "TESTING"})
    client.post(reverse("lab_model_move", args=[model.pk]), {"status": "GRADUATED"})
    model.refresh_from_db()
    assert model.status == ModelStatus.GRADUATED
    home = html(client.get(HOME))
    assert "baseline" in home and "Make production" not in home and 'value="ENABLED"' not in home
    assert client.post(reverse("lab_model_move", args=[model.pk]), {"status": "ENABLED"}).status_code == 403


def test_a_refused_upload_is_shown_on_the_form(lab_user):
    response = signed_in(lab_user).post(UPLOAD, _form(pickled()))
    assert response.status_code == 400
    assert "pickle" in response.content.decode() and not MLModel.objects.exists()


def test_a_super_admin_enables_and_activates_and_the_comparison_lists_it(lab_user, make_user):
    boss = make_user(Role.SUPER_ADMIN)
    model = make_model(lab_user)
    for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
        model = model_move(user=lab_user, model=model, status=status)
    client = signed_in(boss)
    client.post(reverse("lab_model_move", args=[model.pk]), {"status": "ENABLED"})
    assert "Make production" in html(client.get(HOME))
    response = client.post(reverse("lab_model_activate", args=[model.pk]), {"next": HOME}, follow=True)
    page = html(response)
    assert "is the production model now" in page and "Compare, last 7 days" in page
    assert MLModel.objects.get().is_active_prod
    detail = html(client.get(reverse("lab_model_detail", args=[model.pk])))
    assert "made production" in detail and boss.username in detail


def test_the_lab_page_makes_as_many_queries_for_many_models_as_for_one(lab_user):
    client = signed_in(lab_user)
    make_model(lab_user, 0)
    client.get(HOME)
    few = changelist_query_count(client, HOME)
    for n in range(1, 10):
        make_model(lab_user, n)
    assert changelist_query_count(client, HOME) == few
