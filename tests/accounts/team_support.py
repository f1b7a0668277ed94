"""Helpers of the teams tests (test_teams.py, test_team_*.py): links and paths, reloading, signed-in clients,
'nothing changed' snapshots and a scan of the whole database for a secret. Their fixtures are in
tests/accounts/team_fixtures.py."""

from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from accounts.models import Team, TeamInvitation, User
from tests.helpers import FROZEN_NOW  # noqa: F401  (the teams tests import it from here)


def everything():
    """Every row the team pages and endpoints could change, for 'nothing changed' checks."""
    return (
        sorted(User.objects.values_list("username", "team_id", "role")),
        sorted(TeamInvitation.objects.values_list("email", "status", "team_id")),
        sorted(Team.objects.values_list("name", flat=True)),
    )


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def path_of(link: str) -> str:
    return "/invitations/" + token_of(link) + "/"


def reloaded(obj):
    return type(obj).objects.get(pk=obj.pk)


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def tables_containing(text: str) -> list[str]:
    """Every table (and every session, decoded) that holds `text` anywhere in a row, read with raw SQL so
    no model or field is forgotten: ours, django-q's, django-axes', the sessions."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                cells = [bytes(v).decode(errors="ignore") if isinstance(v, bytes | memoryview) else str(v) for v in row]
                if any(text in cell for cell in cells):
                    found.append(table)
                    break
    if any(text in str(session.get_decoded()) for session in Session.objects.all()):
        found.append("django_session (decoded)")
    return found


def pending(team) -> list[str]:
    return sorted(TeamInvitation.objects.filter(team=team, status="pending").values_list("email", flat=True))
