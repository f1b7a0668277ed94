"""Fixtures of the teams tests (test_teams.py, test_team_*.py), loaded by their `pytest_plugins`: two teams
with people of every customer role, and invitations made through the service. (The frozen clock and
`make_team` are tests/conftest.py's.)"""

import pytest

from accounts import teams
from accounts.choices import Role


@pytest.fixture
def team_a(make_team):
    return make_team("Acme")


@pytest.fixture
def team_b(make_team):
    return make_team("Globex")


@pytest.fixture
def people(team_a, make_user):
    """Somebody of every role: team A's client and viewer, and an operator of each kind."""
    return {
        "client": team_a.client,
        "viewer": team_a.viewer,
        "admin": make_user(Role.ADMIN),
        "lab": make_user(Role.LAB),
        "super_admin": make_user(Role.SUPER_ADMIN),
    }


@pytest.fixture
def open_invitation(team_a, invite):
    """Team A's client invited dana@example.com as a client."""
    invitation, _ = invite(team_a.client, "dana@example.com", Role.CLIENT)
    return invitation


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """Invite through the service, the way a request would (on-commit callbacks run: the email is sent).
    Returns (invitation, link)."""

    def make(inviter, email, role=Role.USER):
        with django_capture_on_commit_callbacks(execute=True):
            return teams.team_invitation_create(user=inviter, email=email, role=role)

    return make
