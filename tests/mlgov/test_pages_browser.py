"""The Lab in a real browser (Debian's chromium, headless): a lab user uploads the shipped baseline model and
moves it to testing; a pickle is refused on the form with the reason."""

import pickle

import pytest

from mlgov.choices import ModelStatus
from mlgov.models import MLModel
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401
from tests.mlgov.onnx_models import BASELINE

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
