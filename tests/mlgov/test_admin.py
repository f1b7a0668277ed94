"""Admin for ML models, experiment logs and the recent-experiments report view."""

import pytest
from django.urls import reverse

from mlgov.choices import Decision, ModelStatus
from tests.helpers import changelist_query_count

MODEL_CHANGELIST = reverse("admin:mlgov_mlmodel_changelist")
EXPERIMENT_CHANGELIST = reverse("admin:mlgov_experimentlog_changelist")
RECENT_CHANGELIST = reverse("admin:mlgov_recentexperimentview_changelist")


# --- ML models ------------------------------------------------------------------------------------------


def test_model_changelist_shows_models_and_uploader(client, super_admin, lab_user, make_ml_model):
    make_ml_model(name="spot-risk-xgb", version="2.4.0", uploaded_by=lab_user, status=ModelStatus.TESTING)
    client.force_login(super_admin)
    response = client.get(MODEL_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "spot-risk-xgb" in content
    assert "2.4.0" in content
    assert lab_user.username in content
    assert '<td class="field-status">Testing</td>' in content


def test_model_search_by_name(client, super_admin, make_ml_model):
    make_ml_model(name="wanted-model")
    make_ml_model(name="other-model")
    client.force_login(super_admin)
    content = client.get(MODEL_CHANGELIST, {"q": "wanted"}).content.decode()
    assert "wanted-model" in content
    assert "other-model" not in content


def test_model_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_ml_model):
    client.force_login(super_admin)
    for _ in range(2):
        make_ml_model(uploaded_by=make_user())
    few = changelist_query_count(client, MODEL_CHANGELIST)
    for _ in range(8):
        make_ml_model(uploaded_by=make_user())
    assert changelist_query_count(client, MODEL_CHANGELIST) == few


def test_model_change_form_edits_only_the_description(client, super_admin, make_ml_model):
    model = make_ml_model(total_predictions=1200, success_count=1100, failure_count=100)
    client.force_login(super_admin)
    response = client.get(reverse("admin:mlgov_mlmodel_change", args=[model.pk]))
    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {"description"}
    content = response.content.decode()
    assert model.file_hash in content
    assert "1200" in content


def test_model_change_form_keeps_the_status(client, super_admin, make_ml_model):
    model = make_ml_model()
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:mlgov_mlmodel_change", args=[model.pk]),
        {"description": "Trained on March data", "status": ModelStatus.ENABLED, "is_active_prod": "on"},
    )
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.description == "Trained on March data"
    assert model.status == ModelStatus.CANDIDATE
    assert not model.is_active_prod


def test_models_are_not_uploaded_through_the_admin(client, super_admin):
    client.force_login(super_admin)
    assert client.get(reverse("admin:mlgov_mlmodel_add")).status_code == 403


# --- Experiment logs ------------------------------------------------------------------------------------


# The experiment logs and the recent-experiments view (a database view) list the same rows: the log names the
# model, the view the account.
BOTH_EXPERIMENT_LISTS = pytest.mark.parametrize(
    "changelist", [EXPERIMENT_CHANGELIST, RECENT_CHANGELIST], ids=["experiment-logs", "recent-experiments"]
)
EXPERIMENT_LISTS = [
    pytest.param(EXPERIMENT_CHANGELIST, "scorer", Decision.SWITCH, "Switch", id="experiment-logs"),
    pytest.param(RECENT_CHANGELIST, "Media prod", Decision.FAILED, "Failed", id="recent-experiments"),
]


@pytest.mark.parametrize("changelist,shown,decision,label", EXPERIMENT_LISTS)
def test_experiment_lists_show_the_decisions(
    client,
    super_admin,
    client_user,
    make_account,
    make_instance,
    make_ml_model,
    make_experiment,
    changelist,
    shown,
    decision,
    label,
):
    instance = make_instance(make_account(client_user, account_name="Media prod"), instance_id="i-0e0000000000000aa")
    make_experiment(instance, model=make_ml_model(name="scorer"), decision=decision)
    client.force_login(super_admin)
    response = client.get(changelist)
    assert response.status_code == 200
    content = response.content.decode()
    assert "i-0e0000000000000aa" in content
    assert shown in content
    assert f'<td class="field-decision">{label}</td>' in content


@BOTH_EXPERIMENT_LISTS
def test_experiment_lists_search_by_instance_id(
    client, super_admin, client_user, make_account, make_instance, make_experiment, changelist
):
    account = make_account(client_user)
    make_experiment(make_instance(account, instance_id="i-0e0000000000000bb"))
    make_experiment(make_instance(account, instance_id="i-0e0000000000000cc"))
    client.force_login(super_admin)
    content = client.get(changelist, {"q": "i-0e0000000000000bb"}).content.decode()
    assert "i-0e0000000000000bb" in content
    assert "i-0e0000000000000cc" not in content


@BOTH_EXPERIMENT_LISTS
def test_experiment_lists_queries_do_not_grow_with_rows(
    client, super_admin, make_user, make_account, make_instance, make_ml_model, make_experiment, changelist
):
    client.force_login(super_admin)

    def add_rows(count):
        for _ in range(count):
            make_experiment(make_instance(make_account(make_user())), model=make_ml_model())

    add_rows(2)
    few = changelist_query_count(client, changelist)
    add_rows(8)
    assert changelist_query_count(client, changelist) == few


@pytest.mark.parametrize(
    "model,change,refused",
    [
        # The logs are written by the pipeline, never by hand.
        pytest.param("experimentlog", {"decision": Decision.SWITCH}, ["add"], id="experiment-logs"),
        # The recent-experiments view (a database view) is read only.
        pytest.param("recentexperimentview", {}, ["delete", "add"], id="recent-experiments"),
    ],
)
def test_experiment_lists_are_read_only(
    client, super_admin, client_user, make_account, make_instance, make_experiment, model, change, refused
):
    log = make_experiment(make_instance(make_account(client_user)))
    client.force_login(super_admin)
    change_url = reverse(f"admin:mlgov_{model}_change", args=[log.pk])
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, change).status_code == 403
    for view in refused:
        url = reverse(f"admin:mlgov_{model}_{view}", args=[log.pk] if view == "delete" else [])
        assert client.get(url).status_code == 403
