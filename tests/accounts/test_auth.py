"""Sign-in pages: the login form, throttling by django-axes (pages and the admin), sign-out, home, and the
base layout's navigation by role."""

import re
import types
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import SESSION_KEY
from django.contrib.staticfiles import finders
from django.shortcuts import render
from django.test import Client, override_settings
from django.urls import include, path, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.auth import INVALID_LOGIN_MESSAGE
from accounts.choices import Role
from accounts.views import signin as account_views
from tests.conftest import TEST_PASSWORD

LOCKED = "Too many failed sign-in attempts. Try again in 15 minutes."
FIFTEEN_MINUTES = override_settings(AXES_COOLOFF_TIME=timedelta(minutes=15))
WRONG = "not-the-password-1"

# --- URL configurations for the navigation tests ------------------------------------------------------
# The section pages (accounts, fleet, ...) are written by others; these stand-ins let the navigation be
# tested whether or not those pages exist yet.
SECTION_URL_NAMES = [
    "account_list",
    "instance_list",
    "approval_list",
    "waste_list",
    "risk_pools",
    "sla_dashboard",
    "lab_home",
]


def _section_page(request):
    messages.info(request, "A message for the messages area.")
    return render(request, "base.html", {"title": "A section"})


# The product's URLs plus a stand-in page for every section (listed last, so reverse() finds these).
WITH_SECTIONS = types.ModuleType("with_sections_urlconf")
WITH_SECTIONS.urlpatterns = [
    path("", include("spotopt.urls")),
    *[path(f"test-sections/{name}/", _section_page, name=name) for name in SECTION_URL_NAMES],
]

# Only sign-in, admin and API docs: no section page exists yet.
WITHOUT_SECTIONS = types.ModuleType("without_sections_urlconf")
WITHOUT_SECTIONS.urlpatterns = [
    path("", account_views.home, name="home"),
    path("login/", account_views.SignInView.as_view(), name="login"),
    path("logout/", account_views.SignOutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
]


def nav_links(response) -> list[tuple[str, str, bool]]:
    """(label, href, is current) of each main navigation link on the page."""
    html = response.content.decode()
    nav = re.search(r'<nav class="main-nav" aria-label="Main">(.*?)</nav>', html, re.S)
    if nav is None:
        return []
    return [
        (label, href, bool(current))
        for href, current, label in re.findall(
            r'<a class="main-nav__link" href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav.group(1)
        )
    ]


def signed_in_user_id(client):
    return client.session.get(SESSION_KEY)


def fail(client, username, times, url="/login/", **extra):
    responses = [client.post(url, {"username": username, "password": WRONG}, **extra) for _ in range(times)]
    return responses[-1]


# --- The sign-in page ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_renders_for_anonymous_visitors(client):
    response = client.get("/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert re.search(r'<input type="text" name="username" autofocus [^>]*autocomplete="username"', html)
    assert re.search(r'<input type="password" name="password" autocomplete="current-password"', html)
    assert '<form method="post" action="/login/"' in html
    assert "<main" in html and "<header" in html and "<footer" in html
    assert 'href="/static/css/spotopt.css"' in html
    assert nav_links(response) == []  # nothing to navigate to before signing in
    assert "Sign out" not in html


def test_the_stylesheet_is_a_static_file_with_no_external_urls():
    found = finders.find("css/spotopt.css")  # what runserver serves and collectstatic copies
    assert found
    css = Path(found).read_text()
    assert ".main-nav" in css and "@media" in css
    assert "http://" not in css and "https://" not in css and "@import" not in css


@pytest.mark.django_db
def test_login_signs_in_and_goes_home(client, client_user):
    response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert signed_in_user_id(client) == str(client_user.pk)


@pytest.mark.django_db
def test_login_follows_a_safe_next(client, client_user):
    page = client.get("/login/?next=/api/docs/")
    assert '<input type="hidden" name="next" value="/api/docs/">' in page.content.decode()

    response = client.post(
        "/login/", {"username": client_user.username, "password": TEST_PASSWORD, "next": "/api/docs/"}
    )
    assert response.status_code == 302
    assert response.url == "/api/docs/"


@pytest.mark.django_db
@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/path", "http://evil.example"])
def test_an_open_redirect_in_next_is_not_followed(client, client_user, next_url):
    page = client.get("/login/", {"next": next_url})
    assert "evil.example" not in page.content.decode()

    response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD, "next": next_url})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert signed_in_user_id(client) == str(client_user.pk)


@pytest.mark.django_db
def test_wrong_password_shows_a_clear_error_and_keeps_the_username(client, client_user):
    response = client.post("/login/", {"username": client_user.username, "password": WRONG})

    assert response.status_code == 200
    html = response.content.decode()
    assert '<div class="alert alert--error" role="alert" id="login-error">' in html
    assert INVALID_LOGIN_MESSAGE in html
    assert f'value="{client_user.username}"' in html
    assert WRONG not in html  # the password is never sent back
    assert signed_in_user_id(client) is None


@pytest.mark.django_db
def test_an_inactive_user_cannot_sign_in(client, make_user):
    inactive = make_user(Role.CLIENT, is_active=False)
    response = client.post("/login/", {"username": inactive.username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert INVALID_LOGIN_MESSAGE in response.content.decode()
    assert signed_in_user_id(client) is None


@pytest.mark.django_db
def test_empty_fields_say_what_is_missing(client):
    response = client.post("/login/", {"username": "", "password": ""})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("This field is required.") == 2
    assert 'aria-invalid="true"' in html


@pytest.mark.django_db
def test_username_is_case_insensitive(client, make_user):
    gwen = make_user(Role.CLIENT, username="Gwen")
    response = client.post("/login/", {"username": "gWEN", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(gwen.pk)


@pytest.mark.django_db
def test_a_signed_in_visitor_of_the_login_page_is_sent_home(client, client_user):
    client.force_login(client_user)
    response = client.get("/login/")
    assert response.status_code == 302
    assert response.url == reverse("home")


# --- Throttling (django-axes) -------------------------------------------------------------------------


@pytest.mark.django_db
@FIFTEEN_MINUTES
def test_lockout_after_the_failure_limit_refuses_even_the_right_password(client, client_user):
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(1, limit):
        response = client.post("/login/", {"username": client_user.username, "password": WRONG})
        assert response.status_code == 200, attempt
        assert INVALID_LOGIN_MESSAGE in response.content.decode()

    # The limit-th failure locks.
    response = fail(client, client_user.username, 1)
    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html
    assert '<div class="alert alert--error" role="alert" id="lockout-message">' in html
    assert INVALID_LOGIN_MESSAGE not in html
    assert response["Retry-After"] == "900"
    assert 'name="csrfmiddlewaretoken"' in html  # the page is still a working sign-in form

    # The right password is refused while locked, whatever the case of the username.
    for username in (client_user.username, client_user.username.upper()):
        response = client.post("/login/", {"username": username, "password": TEST_PASSWORD})
        assert response.status_code == 429
        assert LOCKED in response.content.decode()
    assert signed_in_user_id(client) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cool_off", "expected"),
    [
        (timedelta(minutes=15), "Try again in 15 minutes."),
        (timedelta(minutes=45), "Try again in 45 minutes."),
        (timedelta(minutes=1), "Try again in 1 minute."),
        (timedelta(seconds=90), "Try again in 2 minutes."),
    ],
)
def test_the_lockout_message_follows_the_cool_off_setting(client, client_user, cool_off, expected):
    with override_settings(AXES_COOLOFF_TIME=cool_off):
        response = fail(client, client_user.username, settings.AXES_FAILURE_LIMIT)
    assert response.status_code == 429
    assert f"Too many failed sign-in attempts. {expected}" in response.content.decode()


@pytest.mark.django_db
def test_failures_count_for_a_username_across_ip_addresses(client, client_user, other_client):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit):
        # One failure from each of `limit` addresses: no address reaches the limit, the username does.
        response = fail(client, client_user.username, 1, REMOTE_ADDR=f"10.0.0.{n + 1}")
    assert response.status_code == 429

    fresh = {"REMOTE_ADDR": "10.9.9.9"}
    response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD}, **fresh)
    assert response.status_code == 429
    # Another person from that fresh address is not affected.
    response = client.post("/login/", {"username": other_client.username, "password": TEST_PASSWORD}, **fresh)
    assert response.status_code == 302


@pytest.mark.django_db
def test_failures_count_for_an_ip_address_across_usernames(client, client_user, other_client):
    limit = settings.AXES_FAILURE_LIMIT
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(limit):
        response = fail(client, f"guess{n}", 1, **attacker)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts." in response.content.decode()

    # Any username from that address is refused, even with its right password ...
    response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD}, **attacker)
    assert response.status_code == 429
    # ... while that person signs in from their own address.
    response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_lockout_ends_after_the_cool_off(client, client_user):
    fail(client, client_user.username, settings.AXES_FAILURE_LIMIT)
    assert client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD}).status_code == 429

    # Move every failure to just before the cool-off window (axes compares attempt_time).
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME)

    response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(client_user.pk)


@pytest.mark.django_db
def test_the_lockout_ends_after_a_short_configured_cool_off(client, client_user):
    with override_settings(AXES_COOLOFF_TIME=timedelta(seconds=30)):
        fail(client, client_user.username, settings.AXES_FAILURE_LIMIT)
        AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(seconds=31))
        response = client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_successful_sign_in_resets_the_failure_count(client, client_user):
    limit = settings.AXES_FAILURE_LIMIT
    fail(client, client_user.username, limit - 1)
    assert AccessAttempt.objects.filter(username=client_user.username).exists()

    assert client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD}).status_code == 302
    assert not AccessAttempt.objects.filter(username=client_user.username).exists()
    client.logout()

    # A full new allowance: limit - 1 more failures still do not lock.
    response = fail(client, client_user.username, limit - 1)
    assert response.status_code == 200
    assert client.post("/login/", {"username": client_user.username, "password": TEST_PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_failures_in_any_case_of_the_username_share_one_counter(client, make_user):
    gwen = make_user(Role.CLIENT, username="Gwen")
    spellings = ["gwen", "GWEN", "Gwen", "gWeN", "gwEN", "GWen"]
    for n, spelling in enumerate(spellings[: settings.AXES_FAILURE_LIMIT]):
        response = fail(client, spelling, 1, REMOTE_ADDR=f"10.0.1.{n + 1}")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {gwen.username}


@pytest.mark.django_db
@FIFTEEN_MINUTES
def test_the_admin_login_is_throttled_too(client, super_admin):
    admin_login = reverse("admin:login")
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = client.post(admin_login, {"username": super_admin.username, "password": WRONG, "next": "/admin/"})
        assert response.status_code == 200
    response = client.post(admin_login, {"username": super_admin.username, "password": WRONG, "next": "/admin/"})
    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html
    # The lockout page signs in through the sign-in page and comes back to the admin.
    assert '<form method="post" action="/login/"' in html
    assert '<input type="hidden" name="next" value="/admin/">' in html

    response = client.post(admin_login, {"username": super_admin.username, "password": TEST_PASSWORD})
    assert response.status_code == 429
    # One counter per person, whichever door they knock on.
    response = client.post("/login/", {"username": super_admin.username, "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert signed_in_user_id(client) is None


@pytest.mark.django_db
def test_the_admin_login_still_works_and_refuses_non_super_admins(client, super_admin, client_user):
    admin_login = reverse("admin:login")
    response = client.post(admin_login, {"username": client_user.username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "No active super admin account matches that username and password." in response.content.decode()

    response = client.post(
        admin_login, {"username": super_admin.username.upper(), "password": TEST_PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    assert response.url == "/admin/"


# --- Sign-out -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sign_out_needs_a_post_with_the_csrf_token(client_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(client_user)

    # GET only asks for confirmation.
    page = client.get("/logout/")
    assert page.status_code == 200
    assert "Sign out?" in page.content.decode()
    assert signed_in_user_id(client) == str(client_user.pk)

    # POST without the token is refused.
    assert client.post("/logout/").status_code == 403
    assert signed_in_user_id(client) == str(client_user.pk)

    # POST with the token signs out and says so on the sign-in page.
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post("/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert signed_in_user_id(client) is None
    assert "You have signed out." in client.get(response.url).content.decode()


@pytest.mark.django_db
def test_sign_out_page_sends_signed_out_visitors_to_the_login_page(client):
    response = client.get("/logout/")
    assert response.status_code == 302
    assert response.url == reverse("login")


# --- Home ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_sends_signed_out_visitors_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("login")


@pytest.mark.django_db
@pytest.mark.urls(WITH_SECTIONS)
def test_home_sends_signed_in_users_to_the_overview(client, readonly_user):
    client.force_login(readonly_user)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("overview")


@pytest.mark.django_db
@pytest.mark.urls(WITHOUT_SECTIONS)
def test_home_before_the_accounts_list_exists(client, super_admin, client_user):
    client.force_login(super_admin)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("admin:index")

    client.force_login(client_user)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Welcome, {client_user.full_name}" in html
    assert "You are signed in as Client." in html
    assert '<a href="/api/docs/">API docs</a>' in html


# --- Base layout and navigation -----------------------------------------------------------------------

ALL_SECTIONS = ["Overview", "Accounts", "Savings", "Fleet", "Kubernetes", "Approvals", "Waste", "Risk", "SLA"]


@pytest.mark.django_db
@pytest.mark.urls(WITH_SECTIONS)
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.CLIENT, [*ALL_SECTIONS, "Team", "API docs"]),
        (Role.USER, [*ALL_SECTIONS, "Team", "API docs"]),
        (Role.LAB, [*ALL_SECTIONS, "Lab", "API docs"]),
        (Role.ADMIN, [*ALL_SECTIONS, "Lab", "API docs"]),
        (Role.SUPER_ADMIN, [*ALL_SECTIONS, "Lab", "Admin", "API docs"]),
    ],
)
def test_navigation_shows_what_the_role_may_open(client, make_user, role, expected):
    user = make_user(role)
    client.force_login(user)

    response = client.get(reverse("instance_list"))

    assert response.status_code == 200
    links = nav_links(response)
    assert [label for label, _, _ in links] == expected
    hrefs = {label: href for label, href, _ in links}
    assert hrefs["Accounts"] == reverse("account_list")
    assert hrefs["API docs"] == "/api/docs/"
    if "Admin" in expected:
        assert hrefs["Admin"] == "/admin/"
    # The section of the current page is marked, and only that one.
    assert [label for label, _, current in links if current] == ["Fleet"]


@pytest.mark.django_db
@pytest.mark.urls(WITH_SECTIONS)
def test_base_layout_shows_who_is_signed_in_messages_and_a_sign_out_button(client, make_user):
    user = make_user(Role.LAB, full_name="Ada Lovelace")
    client.force_login(user)

    html = client.get(reverse("lab_home")).content.decode()

    assert '<span class="user-menu__name">Ada Lovelace</span>' in html
    assert '<span class="role-badge" title="Your role">Lab</span>' in html
    assert re.search(
        r'<form class="user-menu__logout" method="post" action="/logout/">\s*'
        r'<input type="hidden" name="csrfmiddlewaretoken"',
        html,
    )
    assert "A message for the messages area." in html
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert '<nav class="main-nav" aria-label="Main">' in html
    assert '<a class="main-nav__link" href="/test-sections/lab_home/" aria-current="page">Lab</a>' in html


@pytest.mark.django_db
@pytest.mark.urls(WITH_SECTIONS)
def test_a_superuser_with_another_role_gets_the_super_admin_navigation(client, make_user):
    user = make_user(Role.CLIENT, is_superuser=True, full_name="")
    client.force_login(user)

    response = client.get(reverse("account_list"))
    html = response.content.decode()
    assert "Admin" in [label for label, _, _ in nav_links(response)]
    assert f'<span class="user-menu__name">{user.username}</span>' in html  # no full name: the username
    assert '<span class="role-badge" title="Your role">Super admin</span>' in html


@pytest.mark.django_db
@pytest.mark.urls(WITHOUT_SECTIONS)
def test_navigation_leaves_out_pages_that_do_not_exist_yet(client, super_admin):
    client.force_login(super_admin)
    response = client.get(reverse("logout"))  # any signed-in page built on base.html
    assert response.status_code == 200
    assert [label for label, _, _ in nav_links(response)] == ["Admin", "API docs"]
