"""An account's allowed and denied instance types: checked and normalised (accounts.models), edited on the
account's settings form and through PATCH /api/v1/accounts/{id}/ by whoever may manage the account, shown
on the account's page; nobody else may change them."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.choices import Role
from accounts.models import MAX_INSTANCE_TYPE_PATTERNS, Account, instance_type_patterns_clean
from spotopt.errors import DomainError
from tests.api_contract import api_as

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"


def rows():
    return list(Account.objects.order_by("pk").values())


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def settings_post(**fields):
    return {"account_name": "Production", "environment_type": "PROD", **fields}


# --- the rule ---------------------------------------------------------------------------------------------


def test_patterns_are_stripped_lower_cased_and_kept_once_in_order():
    cleaned = instance_type_patterns_clean([" M5.* ", "c6i.large", "", "m5.*", "*.metal", "u-6tb1.*"], field="x")
    assert cleaned == ["m5.*", "c6i.large", "*.metal", "u-6tb1.*"]
    assert instance_type_patterns_clean([], field="x") == []


@pytest.mark.parametrize(
    "patterns",
    [["m5.large;drop"], ["m5 large"], ["m5.[ab]"], ["m5.large?"], ["%"], ["x" * 65], "m5.*", [{"a": 1}]],
)
def test_anything_but_instance_type_characters_and_stars_is_refused(patterns):
    with pytest.raises(DomainError) as error:
        instance_type_patterns_clean(patterns, field="allowed_instance_types")
    assert error.value.code == "invalid_allowed_instance_types"


def test_at_most_100_patterns():
    many = [f"m{n}.large" for n in range(MAX_INSTANCE_TYPE_PATTERNS)]
    assert len(instance_type_patterns_clean(many, field="x")) == 100
    with pytest.raises(DomainError, match="At most 100"):
        instance_type_patterns_clean([*many, "c5.large"], field="x")


# --- the settings form and the account page ---------------------------------------------------------------


def test_the_settings_form_saves_them_and_the_page_shows_them(client_user, make_account):
    account = make_account(client_user, account_name="Production")
    client = signed_in(client_user)
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert 'name="allowed_instance_types"' in page and 'name="denied_instance_types"' in page
    assert "Any compatible type" in page

    response = client.post(
        reverse("account_update", args=[account.pk]),
        settings_post(allowed_instance_types="m5.*, C6I.large\nr5.*", denied_instance_types="m5d.*"),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.allowed_instance_types == ["m5.*", "c6i.large", "r5.*"]
    assert account.denied_instance_types == ["m5d.*"]
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "<code>m5.*</code>, <code>c6i.large</code>, <code>r5.*</code>" in page
    assert "<code>m5d.*</code>" in page
    assert "m5.*, c6i.large, r5.*</textarea>" in page  # the form shows what is stored

    # Emptied: every compatible type again.
    client.post(reverse("account_update", args=[account.pk]), settings_post())
    account.refresh_from_db()
    assert (account.allowed_instance_types, account.denied_instance_types) == ([], [])


def test_a_bad_pattern_is_shown_on_its_field_and_changes_nothing(client_user, make_account):
    account = make_account(client_user, account_name="Production", allowed_instance_types=["m5.*"])
    before = rows()

    response = signed_in(client_user).post(
        reverse("account_update", args=[account.pk]),
        settings_post(allowed_instance_types="m5.*", denied_instance_types="c5.large; rm -rf"),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "is not an instance-type pattern" in page and "rm" in page
    assert rows() == before


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_read_only_roles_see_them_but_cannot_change_them(make_user, make_account, role):
    from accounts.choices import EnvironmentType

    reader = make_user(role)
    owner = reader if role == Role.USER else make_user(Role.CLIENT)
    account = make_account(owner, environment_type=EnvironmentType.LAB, denied_instance_types=["p4d.*"])
    before = rows()
    client = signed_in(reader)

    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "<code>p4d.*</code>" in page and 'name="denied_instance_types"' not in page
    response = client.post(reverse("account_update", args=[account.pk]), settings_post(denied_instance_types=""))
    assert response.status_code == 403
    response = api_as(reader).patch(f"{ACCOUNTS}{account.pk}/", {"denied_instance_types": []}, format="json")
    assert response.status_code == 403
    assert rows() == before


def test_another_tenants_account_is_not_found(client_user, other_client, make_account):
    theirs = make_account(other_client, allowed_instance_types=["m5.*"])
    before = rows()
    response = signed_in(client_user).post(
        reverse("account_update", args=[theirs.pk]), settings_post(allowed_instance_types="")
    )
    assert response.status_code == 404
    response = api_as(client_user).patch(f"{ACCOUNTS}{theirs.pk}/", {"allowed_instance_types": []}, format="json")
    assert response.status_code == 404
    assert rows() == before


# --- the API ----------------------------------------------------------------------------------------------


def test_the_api_shows_and_patches_them(client_user, make_account):
    account = make_account(client_user)
    api = api_as(client_user)
    url = f"{ACCOUNTS}{account.pk}/"
    assert api.get(url).data["allowed_instance_types"] == [] and api.get(url).data["denied_instance_types"] == []

    response = api.patch(url, {"allowed_instance_types": ["M5.*", "c6i.large", "m5.*"]}, format="json")
    assert response.status_code == 200
    assert response.data["allowed_instance_types"] == ["m5.*", "c6i.large"]

    response = api.patch(url, {"denied_instance_types": ["*.metal"]}, format="json")
    assert response.status_code == 200
    # A PATCH without a field leaves it as it was.
    assert response.data["allowed_instance_types"] == ["m5.*", "c6i.large"]
    assert response.data["denied_instance_types"] == ["*.metal"]
    response = api.patch(url, {"account_name": "Renamed"}, format="json")
    account.refresh_from_db()
    assert (account.allowed_instance_types, account.denied_instance_types) == (["m5.*", "c6i.large"], ["*.metal"])


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"allowed_instance_types": ["m5.large'--"]}, "allowed_instance_types"),
        ({"allowed_instance_types": "m5.*"}, "allowed_instance_types"),
        ({"denied_instance_types": ["m5 large"]}, "denied_instance_types"),
        ({"denied_instance_types": [f"m{n}.large" for n in range(101)]}, "denied_instance_types"),
        ({"denied_instance_types": ["x" * 65]}, "denied_instance_types"),
    ],
)
def test_the_api_refuses_bad_patterns_with_a_field_error_and_changes_nothing(client_user, make_account, payload, field):
    account = make_account(client_user)
    before = rows()
    response = api_as(client_user).patch(f"{ACCOUNTS}{account.pk}/", payload, format="json")
    assert response.status_code == 400
    assert field in response.data["errors"]
    assert rows() == before
