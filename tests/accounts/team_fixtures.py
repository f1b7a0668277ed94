"""Fixtures of the teams tests (test_teams.py, test_team_*.py), loaded by their `pytest_plugins`: two teams
with people of every customer role, and invitations made through the service. (The frozen clock is
tests/conftest.py's `clock`.)"""

from dataclasses import dataclass

import pytest

from accounts import teams
from accounts.choices import Role
from accounts.models import Team, User


@dataclass
class TeamCast:
    """One customer: two clients (the first connected the account), a read-only colleague, an account."""

    team: Team
    client: User
    colleague: User
    viewer: User
    account: object


@pytest.fixture
def make_team(make_user, make_account):
    def make(name):
        client = make_user(Role.CLIENT, full_name=f"{name} Client")
        team = client.team
        team.name = name
        team.save()
        colleague = make_user(Role.CLIENT, team=team, full_name=f"{name} Colleague")
        viewer = make_user(Role.USER, team=team, full_name=f"{name} Viewer")
        account = make_account(client, account_name=f"{name} production")
        return TeamCast(team=team, client=client, colleague=colleague, viewer=viewer, account=account)

    return make


@pytest.fixture
def team_a(make_team):
    return make_team("Acme")


@pytest.fixture
def team_b(make_team):
    return make_team("Globex")


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """Invite through the service, the way a request would (on-commit callbacks run: the email is sent).
    Returns (invitation, link)."""

    def make(inviter, email, role=Role.USER):
        with django_capture_on_commit_callbacks(execute=True):
            return teams.team_invitation_create(user=inviter, email=email, role=role)

    return make
