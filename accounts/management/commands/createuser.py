import getpass
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from accounts.choices import Role


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = (
        "Create a user with a role (super_admin, admin, client, user, lab). The password comes from stdin "
        "(--password-stdin), from a prompt (at a terminal), or is generated and printed once (--no-input, or "
        "when stdin is not a terminal). Usernames and emails are unique regardless of case."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, choices=Role.values, help="What the user may see and do.")
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--full-name", default="", help="Shown in the dashboards' header.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of stdin (for scripts; keeps it out of the process list).",
        )
        source.add_argument(
            "--no-input",
            "--noinput",
            action="store_true",
            dest="no_input",
            help="Never prompt: generate a strong password and print it once.",
        )

    def handle(self, *args, role, username, email, full_name, password_stdin, no_input, **options):
        User = get_user_model()
        username, email, full_name = username.strip(), email.strip().lower(), full_name.strip()
        self._check_identity(User, username=username, email=email, full_name=full_name)

        generated = False
        if password_stdin:
            password = self._read_stdin_password()
        elif no_input or not sys.stdin.isatty():
            password, generated = secrets.token_urlsafe(18), True
        else:
            password = self._prompt_password()
            if not password:
                password, generated = secrets.token_urlsafe(18), True

        try:
            validate_password(password, user=User(username=username, email=email, full_name=full_name))
        except ValidationError as exc:
            raise CommandError(f"The password was refused: {_messages(exc)}") from None

        create = User.objects.create_superuser if role == Role.SUPER_ADMIN else User.objects.create_user
        extra = {} if role == Role.SUPER_ADMIN else {"role": role}
        try:
            with transaction.atomic():
                user = create(email=email, username=username, password=password, full_name=full_name, **extra)
        except ValidationError as exc:
            raise CommandError(f"The user was not created: {_messages(exc)}") from None
        except IntegrityError:
            # Someone created the same username or email in the meantime.
            raise CommandError(
                f"The user was not created: the username '{username}' or the email '{email}' is already taken."
            ) from None

        self.stdout.write(self.style.SUCCESS(f"Created {Role(user.role).label} '{user.username}' <{user.email}>."))
        if generated:
            self.stdout.write(f"Password (shown only this once, store it now): {password}")

    def _check_identity(self, User, *, username, email, full_name):
        if not username:
            raise CommandError("--username must not be empty.")
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            raise CommandError(f"The username '{username}' is not valid: {_messages(exc)}") from None
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(
                f"A user with the username '{username}' already exists (usernames are case-insensitive)."
            )
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"A user with the email '{email}' already exists (emails are case-insensitive).")
        # Before any password is asked for: the model's own checks (email format, lengths).
        try:
            for name, value in (("username", username), ("email", email), ("full_name", full_name)):
                User._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            raise CommandError(f"The user was not created: {_messages(exc)}") from None

    def _read_stdin_password(self) -> str:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise CommandError("--password-stdin: stdin held no password (expected it on the first line).")
        return password

    def _prompt_password(self) -> str:
        password = getpass.getpass("Password (leave empty to generate one): ")
        if not password:
            return ""
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("The two passwords did not match; nothing was created.")
        return password
