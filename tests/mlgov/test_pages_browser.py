"""The Lab in a real browser (Debian's chromium, headless): a lab user uploads the shipped baseline model and
moves it to testing; a pickle is refused on the form with the reason. With data: two models that scored LAB
instances this week compared on the chart and the table, one model's page; a customer filters the experiment
log and reads one decision (its candidates, features and the model's hash), never another tenant's."""

import pickle
import re

import pytest
from django.utils import timezone

from accounts.choices import EnvironmentType
from mlgov.choices import Decision, ModelStatus
from mlgov.models import MLModel
from mlgov.services import model_move, model_upload
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401
from tests.mlgov.onnx_models import BASELINE, risk_model
from tests.mlgov.test_experiments import FEATURES
from tests.mlgov.test_experiments import make as make_log

pytestmark = pytest.mark.browser


def test_a_lab_user_uploads_and_moves_a_model(live_server, browser_page, lab_user, tmp_path):  # noqa: F811
    page = browser_page
    sign_in(page, live_server, lab_user.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lab").click()
    page.wait_for_url(f"{live_server.url}/lab/")
    expect(page.locator(".empty-state")).to_contain_text("No models yet")

    bad = tmp_path / "model.pkl"
    bad.write_bytes(pickle.dumps({"weights": [1, 2]}))
    page.get_by_label("Name").fill("sneaky")
    page.get_by_label("Version").fill("1")
    page.get_by_label("ONNX file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("form.form")).to_contain_text("Python pickle")

    page.get_by_label("Name").fill("baseline")
    page.get_by_label("Version").fill("1")
    page.get_by_label("ONNX file").set_input_files(str(BASELINE))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".message--success")).to_contain_text("uploaded as a candidate")
    page.get_by_role("button", name="Move to Testing").click()
    expect(page.locator(".message--success")).to_contain_text("is now testing")
    expect(page.locator(".model-moves tbody tr")).to_have_count(2)
    screenshot(page, "lab-01-model")
    assert MLModel.objects.get().status == ModelStatus.TESTING
    assert not MLModel.objects.filter(name="sneaky").exists()


def logs_of(model, account, make_instance, scores, **fields):
    """One experiment log of the model per score, evaluated just now (inside the Lab's 7-day window), each
    recording the model's own hash as the optimizer does."""
    features = {**FEATURES, "model_sha256": model.file_hash}
    return [
        make_log(account, n, make_instance, model=model, prediction_score=score, features_used=features, **fields)
        for n, score in enumerate(scores)
    ]


@pytest.fixture
def lab_with_runs(lab_user, make_account, make_instance):
    """Two models a lab user uploaded (the shipped baseline, testing; a challenger, a candidate), both of which
    scored LAB instances this week; the baseline has settled switches."""
    baseline = model_upload(
        user=lab_user, name="baseline", version="1", feature_schema_version="1", data=BASELINE.read_bytes()
    )
    baseline = model_move(user=lab_user, model=baseline, status=ModelStatus.TESTING)
    challenger = model_upload(
        user=lab_user, name="challenger", version="2", feature_schema_version="1", data=risk_model()
    )
    sandbox = make_account(lab_user, account_name="Lab sandbox", environment_type=EnvironmentType.LAB)
    now = timezone.now()
    logs_of(baseline, sandbox, make_instance, [0.02, 0.04, 0.06], execution_time=now)
    logs_of(challenger, sandbox, make_instance, [0.12, 0.08], execution_time=now)
    MLModel.objects.filter(pk=baseline.pk).update(success_count=3, failure_count=1)
    return {"baseline": baseline, "challenger": challenger}


def test_a_lab_user_compares_two_models_on_the_chart_and_opens_one(
    live_server,
    browser_page,  # noqa: F811
    lab_user,
    lab_with_runs,
):
    page = browser_page
    sign_in(page, live_server, lab_user.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lab").click()
    page.wait_for_url(f"{live_server.url}/lab/")

    chart = page.get_by_role("img", name=re.compile("mean crash probability and settled switches that failed"))
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("aria-label", re.compile(r"baseline 1: 3 runs, 4 % mean crash probability"))
    expect(chart).to_have_attribute("aria-label", re.compile(r"challenger 2: 2 runs, 10 % mean crash probability"))
    expect(chart.locator("rect.lab-chart__bar--risk title")).to_have_count(2)
    expect(chart.locator("rect.lab-chart__bar--failed title")).to_have_count(2)
    expect(chart.locator(".lab-chart__name")).to_have_text(["baseline 1", "challenger 2"])
    expect(chart.locator(".lab-chart__value")).to_contain_text(
        ["4 % · 3 runs", "25 % · 1 of 4", "10 % · 2 runs", "no settled switch"]
    )
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, box  # drawn at a readable size
    expect(page.locator(".lab-chart-figure figcaption")).to_contain_text("Lower is safer on both")

    rows = page.locator(".lab-comparison tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_be_visible()
    expect(rows.nth(0).locator("td")).to_have_text(["baseline 1", "3", "0.040", "1", "$0.0660", "3 / 1"])
    expect(rows.nth(1).locator("td")).to_have_text(["challenger 2", "2", "0.100", "1", "$0.0660", "0 / 0"])
    screenshot(page, "lab-02-comparison")

    page.locator(".lab-models").get_by_role("link", name="challenger").click()
    challenger = lab_with_runs["challenger"]
    page.wait_for_url(f"{live_server.url}/lab/models/{challenger.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("challenger")
    expect(page.locator(".badge--large")).to_contain_text("Candidate")
    expect(page.get_by_text(challenger.file_hash)).to_be_visible()
    expect(page.locator(".model-moves tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Move to Testing")).to_be_visible()
    screenshot(page, "lab-03-model-detail")


def test_a_customer_filters_the_experiments_and_reads_one_decision(
    live_server,
    browser_page,  # noqa: F811
    lab_user,
    make_team,
    make_instance,
):
    """The experiment pages are tenant data: Acme's client sees Acme's evaluations only."""
    acme, globex = make_team("Acme"), make_team("Globex")
    model = model_upload(
        user=lab_user, name="baseline", version="1", feature_schema_version="1", data=BASELINE.read_bytes()
    )
    # make_log's decisions cycle SWITCH, HOLD, FAILED: two switches among Acme's six evaluations.
    evaluated = {"execution_time": timezone.now(), "execution_duration_ms": 42, "candidates_evaluated": 3}
    mine = logs_of(model, acme.account, make_instance, [0.04] * 6, **evaluated)
    (theirs,) = logs_of(model, globex.account, make_instance, [0.04], **evaluated)
    page = browser_page
    sign_in(page, live_server, acme.client.username)
    page.goto(f"{live_server.url}/fleet/experiments/")

    rows = page.locator("table.experiments tbody tr")
    expect(rows).to_have_count(6)
    expect(page.locator("table.experiments")).not_to_contain_text(theirs.instance.instance_id)
    page.get_by_label("Decision").select_option("SWITCH")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"decision=SWITCH"))
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n).locator(".badge")).to_have_text("Switch")
        expect(rows.nth(n)).to_contain_text("baseline 1")
    expect(page.get_by_role("link", name="Clear")).to_be_visible()
    screenshot(page, "experiments-01-filtered")

    switch = next(log for log in mine if log.decision == Decision.SWITCH)
    page.locator(f'tr[data-experiment="{switch.pk}"]').get_by_role("link").click()
    page.wait_for_url(f"{live_server.url}/fleet/experiments/{switch.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(switch.instance.instance_id)
    expect(page.locator(".page-meta")).to_contain_text("Acme production")
    expect(page.locator(".page-meta")).to_contain_text("in 42 ms")
    candidates = page.locator("table.experiment-candidates tbody tr")
    expect(candidates).to_have_count(3)
    # Cheapest first, the excluded pool last; the chosen pool is marked.
    expect(candidates.nth(0).locator("td")).to_have_text(
        ["us-east-1:us-east-1a:m5a.large", "$0.0300", "69 %", "0.040", ""]
    )
    expect(candidates.nth(0)).to_have_class(re.compile("is-chosen"))
    expect(candidates.nth(1).locator("td")).to_have_text(
        ["us-east-1:us-east-1a:m5.large its pool", "$0.0900", "6 %", "0.050", ""]
    )
    expect(candidates.nth(2).locator("td")).to_have_text(
        ["us-east-1:us-east-1b:m6i.large", "$0.0200", "79 %", "—", "poisoned"]
    )
    features = page.locator("section[aria-labelledby=features-title]")
    expect(features).to_contain_text("price_ratio_to_on_demand")
    expect(features).to_contain_text("0.3100")
    decision = page.locator("section[aria-labelledby=facts-title]")
    expect(decision).to_contain_text("baseline 1")
    expect(decision.get_by_text(model.file_hash)).to_be_visible()
    screenshot(page, "experiments-02-detail")

    outsider = page.goto(f"{live_server.url}/fleet/experiments/{theirs.pk}/")
    assert outsider.status == 404
    expect(page.locator("body")).not_to_contain_text(theirs.instance.instance_id)
