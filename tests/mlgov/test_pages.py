"""The Lab's model pages: who may see and act (customers never), the upload form (refusals shown on it),
moves by role, activation, the comparison table and its chart; a constant query count."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.choices import EnvironmentType, Role
from mlgov.choices import ModelStatus
from mlgov.models import MLModel
from mlgov.presentation import comparison_chart
from mlgov.services import model_move
from tests.helpers import changelist_query_count
from tests.mlgov.onnx_models import BASELINE, pickled
from tests.mlgov.test_api import make_model
from tests.mlgov.test_experiments import make as make_log
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


def runs_of(model, account, make_instance, scores, *, failures=0, successes=0):
    """The model's runs in the comparison's window (one experiment log per score), and its settled switches."""
    for n, score in enumerate(scores):
        make_log(account, n, make_instance, model=model, prediction_score=score, execution_time=timezone.now())
    MLModel.objects.filter(pk=model.pk).update(success_count=successes, failure_count=failures)


def chart_of(page: str) -> str:
    found = re.search(r'<svg class="lab-chart".*?</svg>', page, re.S)
    assert found, "no comparison chart on the page"
    return found.group(0)


def test_the_comparison_chart_shows_each_model_that_ran(lab_user, make_account, make_instance):
    account = make_account(lab_user, environment_type=EnvironmentType.LAB)
    steady, jumpy, idle = make_model(lab_user, 0), make_model(lab_user, 1), make_model(lab_user, 2)
    runs_of(steady, account, make_instance, [0.02, 0.04, 0.06], successes=3, failures=1)
    runs_of(jumpy, account, make_instance, [0.10])

    chart = chart_of(html(signed_in(lab_user).get(HOME)))

    assert 'role="img"' in chart and "<title>Mean crash probability and failed settled switches" in chart
    assert "risk-0 1" in chart and "risk-1 1" in chart and "risk-2" not in chart  # idle: no runs, no bars
    assert "4 % · 3 runs" in chart and "25 % · 1 of 4" in chart  # steady: mean 0.04, 1 of 4 switches failed
    assert "10 % · 1 runs" in chart and "no settled switch" in chart
    label = re.search(r'aria-label="([^"]+)"', chart).group(1)
    assert "risk-0 1: 3 runs, 4 % mean crash probability, 1 of 4 settled switches failed" in label
    assert "risk-1 1: 1 runs, 10 % mean crash probability, no settled switch yet" in label
    assert len(re.findall(r'class="lab-chart__bar lab-chart__bar--risk"><title>', chart)) == 2
    assert idle.name in html(signed_in(lab_user).get(HOME))  # still in the tables


def test_the_chart_s_axis_ends_at_a_round_peak_and_the_bars_scale_to_it():
    row = {"name": "m", "version": "1", "is_active_prod": True, "runs": 2, "mean_crash_probability": 0.05}
    chart = comparison_chart([{**row, "success_count": 1, "failure_count": 1}])
    assert ">50 %</text>" in chart and ">60 %</text>" not in chart and "m 1 (production)" in chart
    widths = [float(w) for w in re.findall(r'width="([\d.]+)" height="12" class="lab-chart__bar[^"]*"><title>', chart)]
    assert widths == [pytest.approx(widths[1] / 10), widths[1]] and widths[1] > 0  # 5 % and 50 %
    assert comparison_chart([{**row, "runs": 0, "success_count": 0, "failure_count": 0}]) == ""
    unscored = comparison_chart([{**row, "mean_crash_probability": None, "success_count": 0, "failure_count": 0}])
    assert "not scored · 2 runs" in unscored and "no crash probability scored" in unscored
    assert "<script>" not in comparison_chart([{**row, "name": "<script>", "success_count": 0, "failure_count": 0}])


def test_without_runs_the_chart_gives_way_to_a_sentence(lab_user):
    make_model(lab_user)
    page = html(signed_in(lab_user).get(HOME))
    assert "No chart yet: no model has run in the last 7 days." in page and 'lab-chart"' not in page
    assert "Nothing to compare yet" not in page  # the table still lists the model, with no runs


def test_the_lab_page_with_runs_makes_as_many_queries_for_many_models_as_for_one(lab_user, make_account, make_instance):
    account = make_account(lab_user, environment_type=EnvironmentType.LAB)
    client = signed_in(lab_user)
    runs_of(make_model(lab_user, 0), account, make_instance, [0.1], successes=1)
    client.get(HOME)
    few = changelist_query_count(client, HOME)
    for n in range(1, 8):
        runs_of(make_model(lab_user, n), account, make_instance, [0.1, 0.2], failures=n)
    page = html(client.get(HOME))
    assert changelist_query_count(client, HOME) == few
    assert len(re.findall(r"lab-chart__bar--risk\"><title>", chart_of(page))) == 8
