"""Platform endpoints and the django-q2 schedule wiring."""

import re

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_q.models import Schedule

from spotopt import q


def test_healthz_reports_database_up(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


def test_healthz_refuses_post(client, db):
    assert client.post("/healthz").status_code == 405


def test_home_sends_visitors_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_openapi_schema_and_offline_swagger_ui(client, super_admin):
    client.force_login(super_admin)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI is served from our static files (sidecar), never from a CDN.
    assert b"drf_spectacular_sidecar/swagger-ui-dist" in docs.content
    # No script or style from another host (the page's random CSRF token may spell "cdn": look at URLs only).
    assert not re.search(rb"""(src|href)=["']?(https?:)?//""", docs.content, flags=re.IGNORECASE)
    assert not re.search(rb"https?://[^\s\"']*(cdn|unpkg|jsdelivr)", docs.content, flags=re.IGNORECASE)


def test_api_docs_need_a_signed_in_user(client, db):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)


@pytest.mark.django_db
def test_setup_schedules_is_idempotent_and_removes_stale_jobs(capsys):
    Schedule.objects.create(name="spotopt:gone.job", func="spotopt.tasks.clear_expired_sessions")
    Schedule.objects.create(name="operator-added", func="spotopt.tasks.clear_expired_sessions")

    call_command("setup_schedules")
    first = {s.name: (s.func, s.minutes) for s in Schedule.objects.all()}
    call_command("setup_schedules")
    second = {s.name: (s.func, s.minutes) for s in Schedule.objects.all()}

    assert first == second
    assert "spotopt:platform.clear-expired-sessions" in second
    assert "spotopt:gone.job" not in second  # ours, no longer declared
    assert "operator-added" in second  # not ours: left alone
    out = capsys.readouterr().out
    assert "unchanged spotopt:platform.clear-expired-sessions" in out


@pytest.mark.django_db
def test_setup_schedules_updates_a_changed_job():
    call_command("setup_schedules")
    Schedule.objects.filter(name="spotopt:platform.clear-expired-sessions").update(minutes=5)
    result = q.schedules_sync()
    assert result.updated == ["spotopt:platform.clear-expired-sessions"]
    assert Schedule.objects.get(name="spotopt:platform.clear-expired-sessions").minutes == 24 * 60


def test_duplicate_job_names_are_refused(monkeypatch):
    import spotopt.tasks

    job = spotopt.tasks.SCHEDULES[0]
    monkeypatch.setattr(spotopt.tasks, "SCHEDULES", [job, job])
    with override_settings(SCHEDULE_MODULES=["spotopt.tasks"]), pytest.raises(ValueError, match="declared twice"):
        q.declared_jobs()


@pytest.mark.django_db
def test_clear_expired_sessions_task_runs():
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.create(session_key="x" * 32, session_data="", expire_date=timezone.now())
    from spotopt.tasks import clear_expired_sessions

    clear_expired_sessions()
    assert not Session.objects.filter(session_key="x" * 32).exists()


def test_a_refused_action_gets_the_product_403_page(client, readonly_user):
    client.force_login(readonly_user)
    response = client.get("/accounts/connect/")
    assert response.status_code == 403
    assert b"Your role does not allow this action" in response.content
    assert b"Back to spotopt" in response.content


def test_an_unknown_page_gets_the_product_404_page(client, client_user, settings):
    settings.DEBUG = False
    client.force_login(client_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"There is nothing here, or nothing you can see" in response.content
