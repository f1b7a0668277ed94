"""manage.py createuser: a user of any role, with a password from stdin, a prompt, or generated."""

import io
import re

import pytest
from django.core.management import CommandError, call_command

from accounts.choices import Role
from accounts.models import User
from accounts.roles import Capability, can

GOOD_PASSWORD = "plenty-long-and-rare-42"


class FakeStdin(io.StringIO):
    def __init__(self, text="", *, tty=False):
        super().__init__(text)
        self._tty = tty

    def isatty(self):
        return self._tty


def run(*args, stdin="", tty=False, monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeStdin(stdin, tty=tty))
    out = io.StringIO()
    call_command("createuser", *args, stdout=out)
    return out.getvalue()


def identity(username="alice", email="alice@example.com", role=Role.CLIENT):
    return ["--role", role, "--username", username, "--email", email]


@pytest.mark.django_db
@pytest.mark.parametrize("role", Role.values)
def test_creates_a_user_of_each_role_with_a_password_from_stdin(monkeypatch, role):
    out = run(
        *identity(role=role),
        "--full-name",
        "Alice Example",
        "--password-stdin",
        stdin=GOOD_PASSWORD + "\n",
        monkeypatch=monkeypatch,
    )

    user = User.objects.get(username="alice")
    assert user.role == role
    assert user.email == "alice@example.com"
    assert user.full_name == "Alice Example"
    assert user.is_active
    assert user.check_password(GOOD_PASSWORD)
    assert user.is_superuser is (role == Role.SUPER_ADMIN)
    assert can(user, Capability.USE_DJANGO_ADMIN) is (role == Role.SUPER_ADMIN)
    assert f"Created {Role(role).label} 'alice' <alice@example.com>." in out
    assert GOOD_PASSWORD not in out  # a password the operator chose is never echoed


@pytest.mark.django_db
def test_without_a_password_source_a_strong_one_is_generated_and_printed_once(monkeypatch):
    out = run(*identity(), "--no-input", monkeypatch=monkeypatch)

    printed = re.findall(r"Password \(shown only this once, store it now\): (\S+)", out)
    assert len(printed) == 1
    password = printed[0]
    assert len(password) >= 20
    assert out.count(password) == 1
    assert User.objects.get(username="alice").check_password(password)


@pytest.mark.django_db
def test_a_non_terminal_stdin_without_flags_also_generates(monkeypatch):
    out = run(*identity(), stdin="", tty=False, monkeypatch=monkeypatch)
    password = re.search(r"store it now\): (\S+)", out).group(1)
    assert User.objects.get(username="alice").check_password(password)


@pytest.mark.django_db
def test_at_a_terminal_it_prompts_twice(monkeypatch):
    answers = iter([GOOD_PASSWORD, GOOD_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    out = run(*identity(), tty=True, monkeypatch=monkeypatch)
    assert User.objects.get(username="alice").check_password(GOOD_PASSWORD)
    assert "store it now" not in out


@pytest.mark.django_db
def test_at_a_terminal_mismatched_passwords_create_nothing(monkeypatch):
    answers = iter([GOOD_PASSWORD, GOOD_PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match=r"The two passwords did not match; nothing was created\."):
        run(*identity(), tty=True, monkeypatch=monkeypatch)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_at_a_terminal_an_empty_answer_generates(monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    out = run(*identity(), tty=True, monkeypatch=monkeypatch)
    password = re.search(r"store it now\): (\S+)", out).group(1)
    assert User.objects.get(username="alice").check_password(password)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1x", "This password is too short. It must contain at least 10 characters."),
        ("password123", "This password is too common."),
        ("12345678901234", "This password is entirely numeric."),
        ("alice@example.com", "The password is too similar to the"),
    ],
)
def test_weak_passwords_are_refused_by_django_validators(monkeypatch, password, reason):
    with pytest.raises(CommandError) as excinfo:
        run(*identity(), "--password-stdin", stdin=password + "\n", monkeypatch=monkeypatch)
    assert str(excinfo.value).startswith("The password was refused: ")
    assert reason in str(excinfo.value)
    assert password not in str(excinfo.value).replace("alice@example.com", "")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_an_empty_stdin_is_refused(monkeypatch):
    with pytest.raises(CommandError, match="stdin held no password"):
        run(*identity(), "--password-stdin", stdin="", monkeypatch=monkeypatch)
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        (
            "ALICE",
            "other@example.com",
            "A user with the username 'ALICE' already exists (usernames are case-insensitive).",
        ),
        (
            "bob",
            "Alice@Example.COM",
            "A user with the email 'alice@example.com' already exists (emails are case-insensitive).",
        ),
    ],
)
def test_duplicates_are_refused_whatever_the_case(monkeypatch, make_user, username, email, message):
    make_user(Role.CLIENT, username="alice", email="alice@example.com")
    with pytest.raises(CommandError) as excinfo:
        run(*identity(username=username, email=email), "--no-input", monkeypatch=monkeypatch)
    assert str(excinfo.value) == message
    assert User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("alice", "not-an-email", "Enter a valid email address."),
        ("alice smith", "alice@example.com", "The username 'alice smith' is not valid: Enter a valid username."),
        ("   ", "alice@example.com", "--username must not be empty."),
    ],
)
def test_bad_identities_are_refused_before_any_password_is_asked(monkeypatch, username, email, message):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("asked for a password"))
    with pytest.raises(CommandError) as excinfo:
        run(*identity(username=username, email=email), tty=True, monkeypatch=monkeypatch)
    assert message in str(excinfo.value)
    assert not User.objects.exists()


def test_unknown_roles_and_both_password_sources_are_refused(monkeypatch):
    with pytest.raises(CommandError, match="invalid choice: 'root'"):
        run(*identity(role="root"), "--no-input", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="not allowed with argument"):
        run(*identity(), "--no-input", "--password-stdin", monkeypatch=monkeypatch)


@pytest.mark.django_db
def test_the_new_user_can_sign_in(monkeypatch, client):
    run(
        *identity(username="Carol", email="carol@example.com"),
        "--password-stdin",
        stdin=GOOD_PASSWORD,
        monkeypatch=monkeypatch,
    )
    response = client.post("/login/", {"username": "carol", "password": GOOD_PASSWORD})
    assert response.status_code == 302
