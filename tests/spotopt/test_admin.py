"""The Django admin as a whole: who gets in, and that every registered model's pages render."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.core import checks
from django.urls import reverse

from accounts.choices import Role
from tests.conftest import TEST_PASSWORD

REGISTERED_MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)
OUR_APPS = {"accounts", "fleet", "mlgov", "waste", "risk", "approvals", "sla"}


def changelist_url(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_admin_configuration_passes_system_checks():
    errors = checks.run_checks(tags=[checks.Tags.admin])
    assert errors == []


def test_every_model_of_our_apps_is_registered():
    ours = {model for app in OUR_APPS for model in apps.get_app_config(app).get_models()}
    assert ours <= set(admin.site._registry)


def test_only_super_admins_and_superusers_are_staff(make_user):
    assert make_user(Role.SUPER_ADMIN).is_staff
    # A Django superuser gets in whatever its role says.
    assert make_user(Role.CLIENT, is_superuser=True).is_staff
    assert not make_user(Role.SUPER_ADMIN, is_active=False).is_staff
    for role in (Role.ADMIN, Role.CLIENT, Role.USER, Role.LAB):
        assert not make_user(role).is_staff


@pytest.mark.parametrize("user_fixture", ["admin_user", "client_user", "readonly_user", "lab_user"])
@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/accounts/account/", "/admin/risk/globalriskevent/", "/admin/login/?next=/admin/"]
)
def test_other_signed_in_roles_get_the_products_403_page_not_a_second_login_form(client, request, user_fixture, url):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get(url)
    assert response.status_code == 403
    page = response.content.decode()
    assert "The Django admin is for super_admins." in page
    assert 'name="password"' not in page
    assert "/static/css/spotopt.css" in page  # the product's own page, not the admin's


@pytest.mark.parametrize("url", ["/admin/", "/admin/accounts/user/", "/admin/sla/downtimelog/"])
def test_anonymous_visitors_are_sent_to_the_admin_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('admin:login')}?next=")


def test_other_roles_cannot_sign_in_through_the_admin_login(client, client_user):
    response = client.post(
        reverse("admin:login"), {"username": client_user.username, "password": TEST_PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_inactive_super_admin_is_refused(client, make_user):
    client.force_login(make_user(Role.SUPER_ADMIN, is_active=False))
    assert client.get("/admin/").status_code == 302


def test_django_superuser_with_another_role_gets_in(client, make_user):
    client.force_login(make_user(Role.CLIENT, is_superuser=True))
    assert client.get("/admin/").status_code == 200


def test_super_admin_sees_every_app_on_the_index(client, super_admin):
    client.force_login(super_admin)
    response = client.get("/admin/")
    assert response.status_code == 200
    for model in REGISTERED_MODELS:
        assert changelist_url(model) in response.content.decode()


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=lambda model: model._meta.label)
def test_super_admin_opens_every_changelist_and_add_page(client, rf, super_admin, model):
    client.force_login(super_admin)
    assert client.get(changelist_url(model)).status_code == 200
    request = rf.get("/")
    request.user = super_admin
    can_add = admin.site.get_model_admin(model).has_add_permission(request)
    add_url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    assert client.get(add_url).status_code == (200 if can_add else 403)
