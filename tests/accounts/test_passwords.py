"""Passwords are hashed with bcrypt (12 rounds) in the real settings; emails and usernames are unique."""

import pytest
from django.contrib.auth.hashers import BCryptSHA256PasswordHasher, PBKDF2PasswordHasher, check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings

import spotopt.settings as real_settings
from accounts.choices import Role
from accounts.models import User
from tests.conftest import TEST_PASSWORD

BCRYPT = "django.contrib.auth.hashers.BCryptSHA256PasswordHasher"


def test_real_settings_hash_with_bcrypt_first():
    # settings_test swaps in a fast hasher; the product's own settings must put bcrypt first.
    assert real_settings.PASSWORD_HASHERS[0] == BCRYPT
    assert BCryptSHA256PasswordHasher.rounds == 12


def test_a_password_hashed_with_the_real_settings_uses_bcrypt_with_12_rounds():
    with override_settings(PASSWORD_HASHERS=real_settings.PASSWORD_HASHERS):
        encoded = make_password("a long enough password")
        assert encoded.startswith("bcrypt_sha256$$2b$12$")
        assert check_password("a long enough password", encoded)
        assert not check_password("another password", encoded)


@pytest.mark.django_db
def test_user_password_with_real_settings_is_bcrypt_and_checks(make_user):
    with override_settings(PASSWORD_HASHERS=real_settings.PASSWORD_HASHERS):
        user = make_user(password="s3cret-enough-pass")
        user.refresh_from_db()
        assert user.password.startswith("bcrypt_sha256$$2b$12$")
        assert "s3cret-enough-pass" not in user.password
        assert user.check_password("s3cret-enough-pass")
        assert not user.check_password("wrong-password-x")


@pytest.mark.django_db
def test_an_old_pbkdf2_hash_still_verifies_and_is_upgraded_to_bcrypt(make_user):
    user = make_user()
    User.objects.filter(pk=user.pk).update(password=PBKDF2PasswordHasher().encode("legacy-password-1", "saltsalt"))
    user.refresh_from_db()
    with override_settings(PASSWORD_HASHERS=real_settings.PASSWORD_HASHERS):
        assert user.check_password("legacy-password-1")
    user.refresh_from_db()
    assert user.password.startswith("bcrypt_sha256$$2b$12$")


@pytest.mark.django_db
def test_check_password(make_user):
    user = make_user()
    assert user.check_password(TEST_PASSWORD)
    assert not user.check_password(TEST_PASSWORD + "x")
    assert not user.check_password("")


@pytest.mark.django_db
def test_emails_are_stored_in_lowercase():
    user = User.objects.create_user(email="Alice.Smith@Example.COM", username="alice", password=TEST_PASSWORD)
    user.refresh_from_db()
    assert user.email == "alice.smith@example.com"

    direct = User(email="  Bob@EXAMPLE.org ", username="bob")
    direct.set_password(TEST_PASSWORD)
    direct.save()
    direct.refresh_from_db()
    assert direct.email == "bob@example.org"


@pytest.mark.django_db
def test_duplicate_username_is_rejected_by_the_database(make_user):
    make_user(username="carol")
    duplicate = User(email="carol2@example.com", username="carol")
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert User.objects.filter(username="carol").count() == 1


@pytest.mark.django_db
def test_duplicate_email_is_rejected_whatever_its_case(make_user):
    make_user(email="dave@example.com")
    duplicate = User(email="DAVE@Example.com", username="dave2")
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert User.objects.filter(email="dave@example.com").count() == 1


@pytest.mark.django_db
def test_create_user_refuses_duplicates_with_a_validation_error(make_user):
    make_user(username="erin", email="erin@example.com")
    with pytest.raises(ValidationError) as excinfo:
        User.objects.create_user(email="ERIN@example.com", username="erin-2", password=TEST_PASSWORD)
    assert "email" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        User.objects.create_user(email="erin-2@example.com", username="erin", password=TEST_PASSWORD)
    assert "username" in excinfo.value.message_dict
    assert User.objects.filter(username__startswith="erin").count() == 1


@pytest.mark.django_db
def test_create_user_needs_email_and_username():
    with pytest.raises(ValueError, match="email"):
        User.objects.create_user(email="", username="frank", password=TEST_PASSWORD)
    with pytest.raises(ValueError, match="username"):
        User.objects.create_user(email="frank@example.com", username="", password=TEST_PASSWORD)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_only_super_admins_are_staff(make_user):
    assert make_user(Role.SUPER_ADMIN).is_staff
    for role in (Role.ADMIN, Role.CLIENT, Role.USER, Role.LAB):
        assert not make_user(role).is_staff
    inactive = make_user(Role.SUPER_ADMIN, is_active=False)
    assert not inactive.is_staff


def test_usernames_are_unique_regardless_of_case_in_the_database(make_user):
    make_user(username="Erin")
    with pytest.raises(IntegrityError), transaction.atomic():
        User(email="erin2@example.com", username="erin").save()
    assert User.objects.filter(username__iexact="erin").count() == 1


def test_an_email_update_bypassing_save_cannot_duplicate_another_case(make_user):
    make_user(email="fay@example.com")
    other = make_user(email="other@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=other.pk).update(email="FAY@example.com")


def test_sign_in_ignores_the_case_of_the_username(make_user):
    from django.contrib.auth import authenticate

    make_user(username="Gwen", password=TEST_PASSWORD)
    from django.test import RequestFactory

    assert authenticate(RequestFactory().post("/login/"), username="gwen", password=TEST_PASSWORD) is not None
