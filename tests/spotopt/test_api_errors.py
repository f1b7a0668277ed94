"""Every error of the API is JSON {"detail", "code"} (validation errors add "errors"), whoever answers it:
a service, DRF (404, 405, 415, 429 ...), or Django before DRF runs (an unknown path, a body over the size
limit, a crash). See spotopt/api.py and spotopt/views.py."""

import json
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

import spotopt.urls
from accounts import teams
from accounts.choices import Role
from tests.api_contract import api_as, assert_error

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


# --- DRF's own errors --------------------------------------------------------------------------------------


def test_drf_404_has_a_code_and_names_no_model(client_user, other_client, make_account):
    theirs = make_account(other_client)

    for url in (f"{ACCOUNTS}{theirs.pk}/", f"{ACCOUNTS}{uuid.uuid4()}/", f"{ACCOUNTS}not-a-uuid/"):
        body = assert_error(api_as(client_user).get(url), 404, "not_found")
        assert body["detail"] == "Not found."


def test_a_cursor_the_list_did_not_give_out_is_a_json_404(client_user):
    body = assert_error(api_as(client_user).get(ACCOUNTS, {"cursor": "bm90LWEtY3Vyc29y"}), 404, "not_found")
    assert body["detail"] == "That cursor is not one this list gave out."


@pytest.mark.parametrize("size", ["0", "501", "ten", "-3"])
def test_a_page_size_out_of_range_is_a_json_400_naming_the_parameter(client_user, size):
    body = assert_error(api_as(client_user).get(ACCOUNTS, {"page_size": size}), 400)
    assert body["errors"] == {"page_size": ["A whole number from 1 to 500."]}


def test_a_method_the_endpoint_does_not_take_is_a_json_405(client_user, make_account):
    account = make_account(client_user)

    body = assert_error(api_as(client_user).put(f"{ACCOUNTS}{account.pk}/", {}, format="json"), 405)
    assert body["code"] == "method_not_allowed"
    assert "PUT" in body["detail"]


def test_a_body_that_is_not_json_is_a_json_415(client_user, make_account):
    account = make_account(client_user)

    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", data="account_name=x", content_type="text/plain")

    body = assert_error(response, 415, "unsupported_media_type")
    assert "text/plain" in body["detail"]


def test_malformed_json_is_a_json_400(client_user, make_account):
    account = make_account(client_user)

    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", data="{not json", content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_a_validation_error_adds_the_messages_by_field(client_user):
    response = api_as(client_user).post("/api/v1/onboarding/create/", {"account_name": ""}, format="json")

    body = assert_error(response, 400, "blank")
    assert body["errors"] == {"account_name": ["This field may not be blank."]}
    assert "account_name" in body["detail"]


def test_an_accept_header_the_api_cannot_answer_is_a_json_406(client_user):
    response = api_as(client_user).get(ACCOUNTS, HTTP_ACCEPT="application/xml")

    assert_error(response, 406, "not_acceptable")


def test_too_many_onboarding_calls_are_a_json_429_with_retry_after(client_user, monkeypatch):
    # DRF reads the rates when the throttle class is defined: patch the class, not the settings.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"onboarding": "2/minute"})
    api = api_as(client_user)
    for _ in range(2):  # refused as invalid (no AWS is called), but counted
        assert_error(api.post("/api/v1/onboarding/create/", {"account_name": ""}, format="json"), 400)
    response = api.post("/api/v1/onboarding/create/", {"account_name": "x"}, format="json")

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_a_session_write_without_the_csrf_token_is_a_json_403(client_user, make_account):
    account = make_account(client_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(client_user)

    response = client.patch(f"{ACCOUNTS}{account.pk}/", {"account_name": "x"}, content_type="application/json")

    body = assert_error(response, 403, "permission_denied")
    assert "CSRF" in body["detail"]


def test_not_signed_in_is_a_json_401(db):
    body = assert_error(APIClient().get(ACCOUNTS), 401, "not_authenticated")
    assert body["detail"]


def test_a_role_refusal_is_a_json_403(readonly_user):
    # The role is checked before the lookup: the refusal says nothing about whether the account exists.
    body = assert_error(api_as(readonly_user).delete(f"{ACCOUNTS}{uuid.uuid4()}/"), 403, "permission_denied")
    assert body["detail"] == "Your role does not allow this."


# --- Django's errors, before DRF runs ------------------------------------------------------------------------


def test_a_10_mb_json_post_to_an_api_path_is_a_json_413_and_nothing_reads_it(client_user, make_account):
    account = make_account(client_user, account_name="Before")
    ten_mb = json.dumps({"account_name": "After", "padding": "x" * (10 * 1024 * 1024)})
    api = api_as(client_user)

    for method, url in [
        ("PATCH", f"{ACCOUNTS}{account.pk}/"),
        ("POST", f"{ACCOUNTS}{account.pk}/retry/"),
        ("POST", "/api/v1/onboarding/create/"),
        ("POST", "/api/v1/auth/token/"),
        ("POST", "/api/v1/nope/"),
    ]:
        response = api.generic(method, url, data=ten_mb, content_type="application/json")
        error = assert_error(response, 413, "request_too_large")
        assert "at most 5,242,880" in error["detail"]
    account.refresh_from_db()
    assert account.account_name == "Before"


def test_a_body_within_the_limit_is_read(client_user, make_account, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    account = make_account(client_user, account_name="Before")
    url = f"{ACCOUNTS}{account.pk}/"
    api = api_as(client_user)

    too_big = api.patch(
        url, json.dumps({"account_name": "Big", "padding": "x" * 1000}), content_type="application/json"
    )
    assert_error(too_big, 413, "request_too_large")
    fits = api.patch(url, json.dumps({"account_name": "Fits", "padding": "x" * 900}), content_type="application/json")
    assert fits.status_code == 200
    assert fits.json()["account_name"] == "Fits"


@pytest.mark.parametrize("path_", ["/api/v1/nope/", "/api/v1/accounts/x/y/z/", "/api/", "/api/v2/accounts/"])
def test_an_unknown_path_under_api_is_a_json_404(client, client_user, path_):
    assert_error(client.get(path_), 404, "not_found")
    client.force_login(client_user)
    assert_error(client.get(path_), 404, "not_found")
    assert_error(client.post(path_, {}), 404, "not_found")


def test_an_unknown_page_outside_the_api_is_still_the_products_html_404(client, client_user):
    client.force_login(client_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"There is nothing here, or nothing you can see" in response.content


def test_too_many_form_fields_on_an_api_path_is_a_json_400(client_user, make_account):
    account = make_account(client_user)
    form = "&".join(f"f{n}=1" for n in range(1500))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS (1000)

    client = Client(raise_request_exception=False)
    client.force_login(client_user)
    response = client.patch(f"{ACCOUNTS}{account.pk}/", data=form, content_type="application/x-www-form-urlencoded")

    # Django refuses the body (SuspiciousOperation) inside DRF's parser: handler400 answers, as JSON here.
    assert_error(response, 400, "bad_request")


# --- the format-suffix form of every route -------------------------------------------------------------------


def _api_routes():
    """(url name, named groups, methods) of every route under /api/, read from the URL resolver, so a new
    route is covered without touching this test."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    routes = []
    for route, pattern in walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        assert pattern.name, f"API route {route} has no name"
        actions = getattr(pattern.callback, "actions", None)
        # (HEAD answers without a body, and DRF adds it to the actions of GET routes once they have served.)
        methods = sorted({method.upper() for method in actions} - {"HEAD"}) if actions else ["GET", "POST"]
        routes.append((pattern.name, list(pattern.pattern.regex.groupindex), methods))
    return routes


def _plain_routes():
    """The routes, less any format-suffix variant (those are what the suffixed URLs below would reach)."""
    return [route for route in _api_routes() if "format" not in route[1]]


def _row_for(url_name, owner, make_account, make_instance, make_approval):
    """A real object of `owner`'s tenant for a route's id (a random id for routes this does not know)."""
    if url_name.startswith(("account-", "onboarding-")):
        return make_account(owner).pk
    if url_name.startswith("instance-"):
        return make_instance(make_account(owner)).pk
    if url_name.startswith("approval-"):
        return make_approval(account=make_account(owner)).pk
    if url_name.startswith("team-member-"):
        return owner.pk
    if url_name.startswith("team-invitation-"):
        invitation, _ = teams.team_invitation_create(user=owner, email=f"{uuid.uuid4().hex}@example.com", role="user")
        return invitation.pk
    return uuid.uuid4()


ROLES = [None, Role.CLIENT, Role.USER, Role.LAB, Role.ADMIN, Role.SUPER_ADMIN]


def test_the_routes_are_found_and_none_takes_a_format_suffix():
    names = {name for name, _, _ in _api_routes()}
    assert {"account-retry", "approval-approve", "onboarding-discovery", "token_obtain_pair", "api_schema"} <= names
    assert [name for name, groups, _ in _api_routes() if "format" in groups] == []


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role or "anonymous")
def test_the_format_suffix_form_of_every_api_route_is_a_json_404(
    role, client_user, other_client, make_user, make_account, make_instance, make_approval
):
    """`…/retry.json/` used to reach the action with an unexpected `format` argument: a 500. Now no such
    route exists, for anyone: the API speaks JSON, chosen by Accept. Tried with the signed-in person's own
    ids and another tenant's, for every method the route takes."""
    me = None if role is None else client_user if role == Role.CLIENT else make_user(role)
    client = Client(raise_request_exception=False)
    if me is not None:
        client.force_login(me)
    owners = [owner for owner in (me, other_client) if owner is not None and owner.team_id]
    failures, tried = [], 0
    for url_name, groups, methods in _plain_routes():
        kwarg_sets = (
            [
                {group: _row_for(url_name, owner, make_account, make_instance, make_approval) for group in groups}
                for owner in owners or [other_client]
            ]
            if groups
            else [{}]
        )
        for kwargs in kwarg_sets:
            url = reverse(url_name, kwargs=kwargs)
            stem = url.rstrip("/")
            for suffixed in {f"{stem}.json", f"{stem}.json/", f"{stem}.api/", f"{url}.json"}:
                for method in methods:
                    tried += 1
                    response = client.generic(method, suffixed, data="{}", content_type="application/json")
                    body = response.content[:200]
                    if response.status_code != 404 or not response["Content-Type"].startswith("application/json"):
                        failures.append(f"{method} {suffixed}: {response.status_code} {body!r}")
                    elif json.loads(response.content) != {"detail": "Not found.", "code": "not_found"}:
                        failures.append(f"{method} {suffixed}: {body!r}")
    assert tried > 100
    assert not failures, "\n".join(failures)


# --- a crash -------------------------------------------------------------------------------------------------


class Crash(Exception):
    pass


class CrashingApiView(APIView):
    def get(self, request):
        raise Crash("the secret internals of the crash")


def crashing_view(request):
    raise Crash("the secret internals of the crash")


# This module is the URLconf of the crash tests: the product's routes and error handlers, plus three views
# that crash (a DRF view and a plain view under /api/, a plain page elsewhere).
urlpatterns = [
    path("api/v1/crash/", CrashingApiView.as_view(), name="crash-api"),
    path("api/v1/crash-plain/", crashing_view, name="crash-api-plain"),
    path("crash/", crashing_view, name="crash-page"),
    *spotopt.urls.urlpatterns,
]
handler400 = spotopt.urls.handler400
handler403 = spotopt.urls.handler403
handler404 = spotopt.urls.handler404
handler500 = spotopt.urls.handler500


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/api/v1/crash/", "/api/v1/crash-plain/"])
def test_a_crash_on_an_api_path_is_a_json_500_without_internals(client, client_user, url, caplog):
    client.raise_request_exception = False
    client.force_login(client_user)

    response = client.get(url)

    body = assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "logged" in body["detail"]
    assert any("secret internals" in str(record.exc_info) for record in caplog.records if record.exc_info)


@pytest.mark.urls(__name__)
def test_a_crash_elsewhere_is_the_products_html_500_page(client, client_user):
    client.raise_request_exception = False
    client.force_login(client_user)

    response = client.get("/crash/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"Something went wrong" in response.content
    assert b"secret" not in response.content


def test_the_yaml_template_is_served_whatever_the_accept_header_says(client_user, make_account, settings):
    from rest_framework.test import APIClient

    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"
    account = make_account(client_user, status="pending", account_id="pending-00000000-0000-0000-0000-000000000001")
    api = APIClient()
    api.force_authenticate(client_user)
    response = api.get(f"/api/v1/onboarding/{account.pk}/template/?output=yaml", HTTP_ACCEPT="application/x-yaml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-yaml"
    assert account.external_id in response.content.decode()
