"""Admin for users and AWS accounts."""

from django.urls import reverse

from accounts.choices import AccountStatus, ConnectionMethod, Role
from accounts.models import User
from tests.helpers import changelist_query_count

USER_CHANGELIST = reverse("admin:accounts_user_changelist")
ACCOUNT_CHANGELIST = reverse("admin:accounts_account_changelist")


def editable_fields(response):
    return set(response.context["adminform"].form.fields)


# --- Users ----------------------------------------------------------------------------------------------


def test_user_changelist_shows_people_and_their_roles(client, super_admin, make_user):
    make_user(Role.LAB, username="lab-operator", email="lab-operator@example.com")
    client.force_login(super_admin)
    response = client.get(USER_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "lab-operator" in content
    assert "lab-operator@example.com" in content
    assert '<td class="field-role">Lab</td>' in content


def test_user_search_by_email(client, super_admin, make_user):
    make_user(email="findme@example.com", username="findme")
    make_user(username="someone-else")
    client.force_login(super_admin)
    content = client.get(USER_CHANGELIST, {"q": "findme@"}).content.decode()
    assert "findme" in content
    assert "someone-else" not in content


def test_user_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user):
    client.force_login(super_admin)
    for _ in range(2):
        make_user()
    few = changelist_query_count(client, USER_CHANGELIST)
    for _ in range(8):
        make_user()
    assert changelist_query_count(client, USER_CHANGELIST) == few


def test_user_add_form_hashes_the_password(client, super_admin):
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "new-client",
            "email": "New-Client@Example.com",
            "full_name": "New Client",
            "role": Role.CLIENT,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-7",
            "password2": "a-long-enough-passphrase-7",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="new-client")
    assert user.email == "new-client@example.com"
    assert user.role == Role.CLIENT
    assert user.password != "a-long-enough-passphrase-7"
    assert user.check_password("a-long-enough-passphrase-7")
    assert not user.is_staff


def test_user_add_form_reports_an_email_taken_in_another_case(client, super_admin, make_user):
    make_user(email="taken@example.com")
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "second",
            "email": "TAKEN@example.com",
            "role": Role.CLIENT,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-7",
            "password2": "a-long-enough-passphrase-7",
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors


def test_user_change_form_matches_the_custom_user_and_links_to_password_change(client, super_admin, make_user):
    person = make_user(Role.CLIENT)
    client.force_login(super_admin)
    response = client.get(reverse("admin:accounts_user_change", args=[person.pk]))
    assert response.status_code == 200
    assert {"username", "email", "full_name", "role", "is_active", "is_superuser"} <= editable_fields(response)
    assert "is_staff" not in editable_fields(response)
    # The read-only password widget links to the admin's password change page, relative to this one.
    assert 'href="../password/"' in response.content.decode()
    assert client.get(reverse("admin:auth_user_password_change", args=[person.pk])).status_code == 200


def test_user_password_change_page_sets_a_new_hash(client, super_admin, make_user):
    person = make_user(Role.CLIENT)
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[person.pk]),
        {"usable_password": "true", "password1": "another-long-passphrase-8", "password2": "another-long-passphrase-8"},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("another-long-passphrase-8")


# --- Accounts -------------------------------------------------------------------------------------------


def test_account_changelist_shows_accounts_with_owner(client, super_admin, client_user, make_account):
    make_account(client_user, account_name="Payments prod", account_id="210987654321")
    client.force_login(super_admin)
    response = client.get(ACCOUNT_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Payments prod" in content
    assert "210987654321" in content
    assert client_user.username in content


def test_account_search_by_aws_account_id(client, super_admin, client_user, make_account):
    make_account(client_user, account_name="Wanted", account_id="111122223333")
    make_account(client_user, account_name="Unwanted", account_id="444455556666")
    client.force_login(super_admin)
    content = client.get(ACCOUNT_CHANGELIST, {"q": "111122223333"}).content.decode()
    assert "Wanted" in content
    assert "Unwanted" not in content


def test_account_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_account):
    client.force_login(super_admin)
    for _ in range(2):
        make_account(make_user())
    few = changelist_query_count(client, ACCOUNT_CHANGELIST)
    for _ in range(8):
        make_account(make_user())
    assert changelist_query_count(client, ACCOUNT_CHANGELIST) == few


def test_account_pages_never_show_the_encrypted_keys(client, super_admin, client_user, make_account):
    account = make_account(client_user, connection_method=ConnectionMethod.ACCESS_KEYS, external_id=None)
    account.set_access_keys("AKIAEXAMPLEKEYID0001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    account.save()
    client.force_login(super_admin)

    change = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    listing = client.get(ACCOUNT_CHANGELIST)
    assert change.status_code == listing.status_code == 200
    assert {"access_key_id_encrypted", "secret_access_key_encrypted"}.isdisjoint(editable_fields(change))
    for response in (change, listing):
        content = response.content.decode()
        for secret in (
            account.access_key_id_encrypted,
            account.secret_access_key_encrypted,
            "AKIAEXAMPLEKEYID0001",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ):
            assert secret not in content
        assert "_encrypted" not in content
    # What the page may say: that keys are stored.
    assert "Has access keys" in change.content.decode()


def test_account_status_and_external_id_are_read_only(client, super_admin, client_user, make_account):
    account = make_account(client_user, status=AccountStatus.CONNECTED)
    client.force_login(super_admin)
    response = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert response.status_code == 200
    assert {"status", "external_id", "connection_method"}.isdisjoint(editable_fields(response))
    assert account.external_id in response.content.decode()


def test_account_change_form_cannot_move_the_status(client, super_admin, client_user, make_account):
    account = make_account(client_user, status=AccountStatus.PENDING)
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:accounts_account_change", args=[account.pk]),
        {
            "user": client_user.pk,
            "team": account.team_id,
            "account_name": "Renamed",
            "account_id": account.account_id,
            "environment_type": account.environment_type,
            "is_active": "on",
            "status": AccountStatus.ACTIVE,
            "role_arn": account.role_arn,
            "region": "eu-west-1",
            "regions": "[]",
            "account_metadata": "{}",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.account_name == "Renamed"
    assert account.status == AccountStatus.PENDING


def test_accounts_are_not_added_through_the_admin(client, super_admin):
    client.force_login(super_admin)
    assert client.get(reverse("admin:accounts_account_add")).status_code == 403
