"""JWT for API clients: obtain, use, rotate, blacklist; throttled by django-axes like the sign-in page; and
neither passwords nor tokens ever reach a log line."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.auth import INVALID_LOGIN_MESSAGE, lockout_response
from accounts.choices import Role
from tests.conftest import TEST_PASSWORD

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
BLACKLIST = "/api/v1/auth/token/blacklist/"
PROTECTED = "/api/schema/"  # needs a signed-in user (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"])
WRONG = "not-the-password-1"
LOCKED = "Too many failed sign-in attempts. Try again in 15 minutes."


@pytest.fixture
def api():
    return APIClient()


def obtain(api, username, password=TEST_PASSWORD, **extra):
    return api.post(TOKEN, {"username": username, "password": password}, format="json", **extra)


def refresh(api, token):
    return api.post(REFRESH, {"refresh": token}, format="json")


def get_protected(access):
    return APIClient().get(PROTECTED, HTTP_AUTHORIZATION=f"Bearer {access}")


@pytest.mark.django_db
def test_obtain_a_pair_and_use_the_access_token(api, client_user):
    assert APIClient().get(PROTECTED).status_code == 401

    response = obtain(api, client_user.username)

    assert response.status_code == 200
    assert set(response.data) == {"access", "refresh"}
    assert get_protected(response.data["access"]).status_code == 200
    client_user.refresh_from_db()
    assert client_user.last_login is not None


@pytest.mark.django_db
def test_access_tokens_are_short_lived(api, client_user):
    access = AccessToken(obtain(api, client_user.username).data["access"])
    lifetime = timedelta(seconds=access["exp"] - access["iat"])
    assert lifetime == api_settings.ACCESS_TOKEN_LIFETIME == settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    assert lifetime <= timedelta(minutes=15)


@pytest.mark.django_db
def test_the_username_is_case_insensitive(api, make_user):
    gwen = make_user(Role.CLIENT, username="Gwen")
    response = obtain(api, "gWEN")
    assert response.status_code == 200
    assert str(AccessToken(response.data["access"])["user_id"]) == str(gwen.pk)


@pytest.mark.django_db
def test_refresh_rotates_and_the_old_refresh_token_is_refused(api, client_user):
    first = obtain(api, client_user.username).data["refresh"]

    rotated = refresh(api, first)
    assert rotated.status_code == 200
    assert set(rotated.data) == {"access", "refresh"}
    assert rotated.data["refresh"] != first
    assert get_protected(rotated.data["access"]).status_code == 200

    # A refresh token works once: using it again (say, stolen) is refused.
    reused = refresh(api, first)
    assert reused.status_code == 401
    assert reused.data["code"] == "token_not_valid"
    assert "blacklisted" in str(reused.data["detail"]).lower()

    # The new one works (and is itself rotated).
    assert refresh(api, rotated.data["refresh"]).status_code == 200


@pytest.mark.django_db
def test_the_blacklist_endpoint_signs_an_api_client_out(api, client_user):
    pair = obtain(api, client_user.username).data

    response = api.post(BLACKLIST, {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 200
    assert refresh(api, pair["refresh"]).status_code == 401
    # Blacklisting twice is refused too, with a reason.
    again = api.post(BLACKLIST, {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.data["code"] == "token_not_valid"


@pytest.mark.django_db
def test_an_inactive_user_gets_no_token_and_cannot_refresh(api, make_user, client_user):
    inactive = make_user(Role.CLIENT, is_active=False)
    response = obtain(api, inactive.username)
    assert response.status_code == 401
    assert response.data["detail"] == INVALID_LOGIN_MESSAGE
    assert "access" not in response.data

    # Deactivated after signing in: the refresh token stops working.
    pair = obtain(api, client_user.username).data
    client_user.is_active = False
    client_user.save(update_fields=["is_active"])
    assert refresh(api, pair["refresh"]).status_code == 401
    assert get_protected(pair["access"]).status_code == 401


@pytest.mark.django_db
def test_a_wrong_password_gets_401_with_a_clear_detail(api, client_user):
    response = obtain(api, client_user.username, WRONG)

    assert response.status_code == 401
    assert response.data["detail"] == INVALID_LOGIN_MESSAGE
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert WRONG not in response.content.decode()


@pytest.mark.django_db
def test_missing_fields_get_400_naming_them(api):
    response = api.post(TOKEN, {"username": "someone"}, format="json")
    assert response.status_code == 400
    assert response.data["errors"]["password"] == ["This field is required."]


@pytest.mark.django_db
@override_settings(AXES_COOLOFF_TIME=timedelta(minutes=15))
def test_a_locked_out_username_gets_429_with_the_message(api, client, client_user):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert obtain(api, client_user.username, WRONG).status_code == 401

    response = obtain(api, client_user.username, WRONG)
    assert response.status_code == 429
    assert response.json() == {"detail": LOCKED, "code": "locked_out"}
    assert response["Retry-After"] == "900"

    # Even the right password, from another address, in another case.
    response = obtain(api, client_user.username.upper(), REMOTE_ADDR="10.2.2.2")
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    # The sign-in page shares the counter.
    assert client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD}).status_code == 429


@pytest.mark.django_db
def test_a_lockout_from_the_sign_in_page_also_closes_the_token_endpoint(api, client, client_user, other_client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": client_user.username, "password": WRONG})

    assert obtain(api, client_user.username).status_code == 429
    # The IP is locked too (same test address); another address is fine for someone else.
    assert obtain(api, other_client.username).status_code == 429
    assert obtain(api, other_client.username, REMOTE_ADDR="10.3.3.3").status_code == 200


@pytest.mark.django_db
def test_a_token_sign_in_resets_the_failure_count(api, client_user):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        obtain(api, client_user.username, WRONG)
    assert obtain(api, client_user.username).status_code == 200
    assert not AccessAttempt.objects.exists()

    for _ in range(limit - 1):
        assert obtain(api, client_user.username, WRONG).status_code == 401
    assert obtain(api, client_user.username).status_code == 200


@pytest.mark.django_db
def test_lockout_response_answers_json_on_api_paths_and_the_page_elsewhere():
    factory = RequestFactory()
    with override_settings(AXES_COOLOFF_TIME=timedelta(minutes=15)):
        api_response = lockout_response(factory.post("/api/v1/anything/"), None, {"username": "x"})
        page_request = factory.post("/login/", {"username": "x"})
        page_request.user = None
        page_response = lockout_response(page_request, None, {"username": "x"})

    assert api_response.status_code == 429
    assert api_response["Content-Type"] == "application/json"
    assert api_response.content == b'{"detail": "' + LOCKED.encode() + b'", "code": "locked_out"}'
    assert page_response.status_code == 429
    assert LOCKED in page_response.content.decode()


@pytest.mark.django_db
def test_no_password_or_token_reaches_the_logs(api, client, client_user, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {TEST_PASSWORD, WRONG}

    pair = obtain(api, client_user.username).data
    secrets |= {pair["access"], pair["refresh"]}
    get_protected(pair["access"])
    rotated = refresh(api, pair["refresh"]).data
    secrets |= {rotated["access"], rotated["refresh"]}
    refresh(api, pair["refresh"])  # reuse: 401
    api.post(BLACKLIST, {"refresh": rotated["refresh"]}, format="json")
    get_protected("not-a-token")
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        obtain(api, client_user.username, WRONG)  # up to and past the lockout
    client.post("/login/", {"username": client_user.username, "password": WRONG})
    client.post("/admin/login/", {"username": client_user.username, "password": TEST_PASSWORD})

    assert caplog.records, "the flows above log (axes, django.request): the check below must see them"
    # Parts of a JWT too: its signature alone would be enough to replay it if the header and payload leak.
    fragments = secrets | {part for token in secrets if token.count(".") == 2 for part in token.split(".")}
    for record in caplog.records:
        line = record.getMessage() + repr(record.args) + str(getattr(record, "request", ""))
        for secret in fragments:
            assert secret not in line, f"{record.name}: {line}"


@pytest.mark.django_db
def test_a_refresh_token_for_a_deleted_user_is_refused(api, make_user):
    doomed = make_user(Role.CLIENT)
    token = str(RefreshToken.for_user(doomed))
    doomed.delete()
    assert refresh(api, token).status_code == 401
