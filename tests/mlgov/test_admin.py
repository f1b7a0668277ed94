"""Admin for ML models, experiment logs and the recent-experiments report view."""

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


def test_experiment_changelist_shows_decisions(
    client, super_admin, client_user, make_account, make_instance, make_ml_model, make_experiment
):
    instance = make_instance(make_account(client_user), instance_id="i-0e0000000000000aa")
    make_experiment(instance, model=make_ml_model(name="scorer"), decision=Decision.SWITCH)
    client.force_login(super_admin)
    response = client.get(EXPERIMENT_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "i-0e0000000000000aa" in content
    assert "scorer" in content
    assert '<td class="field-decision">Switch</td>' in content


def test_experiment_search_by_instance_id(
    client, super_admin, client_user, make_account, make_instance, make_experiment
):
    account = make_account(client_user)
    make_experiment(make_instance(account, instance_id="i-0e0000000000000bb"))
    make_experiment(make_instance(account, instance_id="i-0e0000000000000cc"))
    client.force_login(super_admin)
    content = client.get(EXPERIMENT_CHANGELIST, {"q": "i-0e0000000000000bb"}).content.decode()
    assert "i-0e0000000000000bb" in content
    assert "i-0e0000000000000cc" not in content


def test_experiment_changelist_queries_do_not_grow_with_rows(
    client, super_admin, make_user, make_account, make_instance, make_ml_model, make_experiment
):
    client.force_login(super_admin)

    def add_rows(count):
        for _ in range(count):
            make_experiment(make_instance(make_account(make_user())), model=make_ml_model())

    add_rows(2)
    few = changelist_query_count(client, EXPERIMENT_CHANGELIST)
    add_rows(8)
    assert changelist_query_count(client, EXPERIMENT_CHANGELIST) == few


def test_experiment_logs_are_not_written_by_hand(
    client, super_admin, client_user, make_account, make_instance, make_experiment
):
    log = make_experiment(make_instance(make_account(client_user)))
    client.force_login(super_admin)
    change_url = reverse("admin:mlgov_experimentlog_change", args=[log.pk])
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, {"decision": Decision.SWITCH}).status_code == 403
    assert client.get(reverse("admin:mlgov_experimentlog_add")).status_code == 403


# --- Recent experiments (database view) -----------------------------------------------------------------


def test_recent_experiment_view_lists_experiments_with_account(
    client, super_admin, client_user, make_account, make_instance, make_experiment
):
    account = make_account(client_user, account_name="Media prod")
    make_experiment(make_instance(account, instance_id="i-0r0000000000000aa"), decision=Decision.FAILED)
    client.force_login(super_admin)
    response = client.get(RECENT_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "i-0r0000000000000aa" in content
    assert "Media prod" in content
    assert '<td class="field-decision">Failed</td>' in content


def test_recent_experiment_view_search_by_instance(
    client, super_admin, client_user, make_account, make_instance, make_experiment
):
    account = make_account(client_user)
    make_experiment(make_instance(account, instance_id="i-0r0000000000000bb"))
    make_experiment(make_instance(account, instance_id="i-0r0000000000000cc"))
    client.force_login(super_admin)
    content = client.get(RECENT_CHANGELIST, {"q": "i-0r0000000000000bb"}).content.decode()
    assert "i-0r0000000000000bb" in content
    assert "i-0r0000000000000cc" not in content


def test_recent_experiment_view_queries_do_not_grow_with_rows(
    client, super_admin, make_user, make_account, make_instance, make_ml_model, make_experiment
):
    client.force_login(super_admin)

    def add_rows(count):
        for _ in range(count):
            make_experiment(make_instance(make_account(make_user())), model=make_ml_model())

    add_rows(2)
    few = changelist_query_count(client, RECENT_CHANGELIST)
    add_rows(8)
    assert changelist_query_count(client, RECENT_CHANGELIST) == few


def test_recent_experiment_view_is_view_only(
    client, super_admin, client_user, make_account, make_instance, make_experiment
):
    log = make_experiment(make_instance(make_account(client_user)))
    client.force_login(super_admin)
    change_url = reverse("admin:mlgov_recentexperimentview_change", args=[log.pk])
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, {}).status_code == 403
    assert client.get(reverse("admin:mlgov_recentexperimentview_delete", args=[log.pk])).status_code == 403
    assert client.get(reverse("admin:mlgov_recentexperimentview_add")).status_code == 403
