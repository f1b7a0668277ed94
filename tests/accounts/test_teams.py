"""The team services (accounts.teams): invite, accept (signing up or signed in), expiry, revoke, remove a
member, rename. Time is a frozen clock (django.utils.timezone.now patched) wherever it matters.

The people: team A ("Acme") has two clients (the first connected its account), a read-only viewer and an
account; team B ("Globex") the same (tests.accounts.team_support).
"""

import hashlib
import secrets
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from accounts import teams
from accounts.choices import InvitationStatus, Role
from accounts.models import Account, Team, TeamInvitation, User
from spotopt.errors import Conflict, DomainError, NotFound, PermissionRefused
from tests.accounts.team_support import FROZEN_NOW, pending, reloaded, tables_containing, token_of
from tests.conftest import TEST_PASSWORD

# The teams fixtures (team_a, team_b, invite, people, open_invitation) live in tests/accounts/team_fixtures.py
# (make_team and clock in tests/conftest.py).
pytest_plugins = ["tests.accounts.team_fixtures"]

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "violet-tapir-harbour-42"


def invitation_rows():
    return list(TeamInvitation.objects.order_by("pk").values())


def signup(invitation, username="newcomer", full_name="New Comer", password=NEW_PASSWORD):
    return teams.team_invitation_accept_signup(
        invitation=invitation, username=username, full_name=full_name, password=password
    )


# ======================================================================================================
# Inviting
# ======================================================================================================


def test_an_invitation_is_made_for_the_normalised_address_with_a_link_of_its_own(team_a, clock, invite):
    invitation, link = invite(team_a.client, "  Dana.Scully@Example.COM ", Role.CLIENT)

    invitation = reloaded(invitation)
    assert invitation.email == "dana.scully@example.com"
    assert invitation.role == Role.CLIENT
    assert invitation.team == team_a.team
    assert invitation.status == InvitationStatus.PENDING
    assert invitation.invited_by == team_a.client
    assert invitation.expires_at == FROZEN_NOW + timedelta(days=settings.TEAM_INVITATION_DAYS)
    assert invitation.accepted_by is None and invitation.closed_at is None
    assert link.startswith(f"{settings.SITE_URL.rstrip('/')}/invitations/")
    token = token_of(link)
    assert len(token) >= 40  # 32 random bytes, URL-safe
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # The link leads back to it, whatever case the address was typed in.
    assert teams.team_invitation_for_token(token) == invitation


def test_two_invitations_have_different_links(team_a, invite):
    _, first = invite(team_a.client, "one@example.com")
    _, second = invite(team_a.client, "two@example.com")
    assert token_of(first) != token_of(second)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.LAB, Role.SUPER_ADMIN, "owner", ""])
def test_only_read_only_users_and_clients_can_be_invited(team_a, invite, role):
    with pytest.raises(DomainError) as excinfo:
        invite(team_a.client, "dana@example.com", role)
    assert excinfo.value.code == "invalid_role"
    assert "read-only users or as clients" in excinfo.value.message
    assert not TeamInvitation.objects.exists()


@pytest.mark.parametrize("who", ["colleague", "viewer", "client"])
def test_inviting_a_current_member_is_a_conflict(team_a, invite, who):
    member = getattr(team_a, who)
    with pytest.raises(Conflict) as excinfo:
        invite(team_a.client, member.email.upper(), Role.CLIENT)
    assert excinfo.value.code == "already_member"
    assert member.email in excinfo.value.message and "Acme" in excinfo.value.message
    assert not TeamInvitation.objects.exists()


def test_a_member_of_another_team_may_be_invited(team_a, team_b, invite):
    invitation, _ = invite(team_a.client, team_b.viewer.email)
    assert invitation.status == InvitationStatus.PENDING
    assert reloaded(team_b.viewer).team == team_b.team  # nothing moves until they accept


def test_inviting_an_address_again_replaces_its_open_invitation(team_a, team_b, clock, invite):
    first, first_link = invite(team_a.client, "dana@example.com", Role.USER)
    elsewhere, _ = invite(team_b.client, "dana@example.com", Role.USER)  # another team's stays open
    clock.advance(hours=3)
    second, second_link = invite(team_a.colleague, "DANA@example.com", Role.CLIENT)

    first = reloaded(first)
    assert first.status == InvitationStatus.REVOKED
    assert first.closed_at == clock.now
    assert reloaded(second).status == InvitationStatus.PENDING
    assert second.role == Role.CLIENT and second.invited_by == team_a.colleague
    assert second.expires_at == clock.now + timedelta(days=settings.TEAM_INVITATION_DAYS)
    assert reloaded(elsewhere).status == InvitationStatus.PENDING
    assert pending(team_a.team) == ["dana@example.com"]
    # The old link no longer works; the new one does.
    with pytest.raises(Conflict) as excinfo:
        teams.team_invitation_for_token(token_of(first_link))
    assert excinfo.value.code == "invitation_revoked"
    assert teams.team_invitation_for_token(token_of(second_link)) == second


@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN, Role.LAB, Role.SUPER_ADMIN])
def test_only_roles_that_manage_a_team_may_invite(make_user, team_a, invite, role):
    inviter = team_a.viewer if role == Role.USER else make_user(role)
    with pytest.raises(PermissionRefused) as excinfo:
        invite(inviter, "dana@example.com")
    assert excinfo.value.message == "Only the team's clients invite and remove members."
    assert not TeamInvitation.objects.exists()


def test_a_client_without_a_team_is_told_so(team_a, invite):
    teams.team_member_remove(user=team_a.client, member=team_a.colleague)
    removed = reloaded(team_a.colleague)
    with pytest.raises(DomainError) as excinfo:
        invite(removed, "dana@example.com")
    assert excinfo.value.code == "no_team"
    assert not TeamInvitation.objects.exists()


def test_the_invitation_is_emailed_with_its_link_after_commit(team_a, invite, mailoutbox):
    invitation, link = invite(team_a.client, "dana@example.com", Role.CLIENT)

    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["dana@example.com"]
    assert mail.from_email == settings.DEFAULT_FROM_EMAIL
    assert mail.subject == "[spotopt] Join Acme"
    assert link in mail.body
    assert "Acme Client invited you to join Acme on spotopt as a client" in mail.body
    assert f"until {invitation.expires_at:%Y-%m-%d %H:%M} UTC" in mail.body


def test_the_email_leaves_whatever_the_team_name_holds(team_a, invite, mailoutbox):
    """A name with a line break (made before names were checked, or in the Django admin) cannot break the
    subject line, so the invitation is still emailed."""
    Team.objects.filter(pk=team_a.team.pk).update(name="Acme\r\nBcc: someone@example.com")
    _, link = invite(reloaded(team_a.client), "dana@example.com")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "[spotopt] Join Acme Bcc: someone@example.com"
    assert mailoutbox[0].to == ["dana@example.com"] and mailoutbox[0].bcc == []
    assert link in mailoutbox[0].body


def test_no_email_leaves_when_the_invitation_is_rolled_back(team_a, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        teams.team_invitation_create(user=team_a.client, email="dana@example.com", role=Role.USER)
        raise RuntimeError("the request failed after the service")
    assert mailoutbox == []
    assert not TeamInvitation.objects.exists()


def test_a_failing_mail_server_does_not_undo_the_invitation(team_a, invite, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(teams, "send_mail", refuse)
    invitation, link = invite(team_a.client, "dana@example.com")
    assert reloaded(invitation).status == InvitationStatus.PENDING
    assert "could not be sent" in caplog.text
    assert token_of(link) not in caplog.text


def test_the_token_is_stored_nowhere_in_plain_text(team_a, invite, caplog):
    """Only its hash is kept: not in the invitation row, not in django-q's tables, not in any table."""
    invitation, link = invite(team_a.client, "dana@example.com")
    token = token_of(link)

    row = TeamInvitation.objects.filter(pk=invitation.pk).values().get()
    assert token not in str(row)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    tables = connection.introspection.table_names()
    assert {"django_q_ormq", "django_q_task", "django_q_schedule", "accounts_teaminvitation"} <= set(tables)
    assert tables_containing(token) == []
    assert tables_containing(invitation.token_hash) == ["accounts_teaminvitation"]  # the scan does see rows
    assert token not in caplog.text

    # Nor once it has been used.
    user = signup(teams.team_invitation_for_token(token))
    assert user.team == team_a.team
    assert tables_containing(token) == []


# ======================================================================================================
# Accepting by signing up
# ======================================================================================================


@pytest.mark.parametrize("role", [Role.USER, Role.CLIENT])
def test_signing_up_makes_the_invited_person_a_member(team_a, clock, invite, role):
    invitation, link = invite(team_a.client, "Dana@Example.com", role)
    teams_before = Team.objects.count()
    clock.advance(hours=1)

    user = signup(teams.team_invitation_for_token(token_of(link)), username="  dana  ", full_name=" Dana Scully ")

    user = reloaded(user)
    assert (user.username, user.full_name, user.email) == ("dana", "Dana Scully", "dana@example.com")
    assert user.role == role and user.team == team_a.team
    assert user.is_active and user.check_password(NEW_PASSWORD)
    assert Team.objects.count() == teams_before  # a client who signs up gets no team of their own
    invitation = reloaded(invitation)
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.accepted_by == user
    assert invitation.closed_at == clock.now
    assert set(Account.objects.for_user(user)) == {team_a.account}


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short-9", "This password is too short. It must contain at least 10 characters."),
        ("1234567890123", "This password is entirely numeric."),
        ("password123", "This password is too common."),
        ("dana.scully.x", "The password is too similar to the"),
    ],
)
def test_the_password_validators_apply_to_a_signup(team_a, invite, password, message):
    invitation, _ = invite(team_a.client, "dana.scully.x@example.com")
    users = User.objects.count()
    with pytest.raises(DomainError) as excinfo:
        signup(invitation, username="dana.scully.x", password=password)
    assert excinfo.value.code == "invalid_password"
    assert message in excinfo.value.message
    assert User.objects.count() == users
    assert reloaded(invitation).status == InvitationStatus.PENDING


def test_a_taken_username_is_refused_whatever_its_case(team_a, team_b, invite):
    invitation, _ = invite(team_a.client, "dana@example.com")
    rows = invitation_rows()
    with pytest.raises(Conflict) as excinfo:
        signup(invitation, username=team_b.viewer.username.upper())
    assert excinfo.value.code == "username_taken"
    assert "is taken; choose another" in excinfo.value.message
    assert invitation_rows() == rows
    assert not User.objects.filter(email="dana@example.com").exists()


def test_an_address_that_already_signs_in_must_sign_in_to_accept(team_a, team_b, invite):
    invitation, _ = invite(team_a.client, team_b.viewer.email.upper())
    with pytest.raises(Conflict) as excinfo:
        signup(invitation)
    assert excinfo.value.code == "email_taken"
    assert "already has a spotopt sign-in: sign in, then open the link again" in excinfo.value.message
    assert reloaded(team_b.viewer).team == team_b.team
    assert reloaded(invitation).status == InvitationStatus.PENDING


@pytest.mark.parametrize("username", ["", "   "])
def test_a_signup_needs_a_username(team_a, invite, username):
    invitation, _ = invite(team_a.client, "dana@example.com")
    with pytest.raises(DomainError) as excinfo:
        signup(invitation, username=username)
    assert excinfo.value.code == "invalid_username"


def test_a_username_the_user_model_refuses_is_a_domain_error(team_a, invite):
    """The service checks what the user model checks (here: at most 150 characters), so a caller other than
    the form gets a message, not a crash."""
    invitation, _ = invite(team_a.client, "dana@example.com")
    with pytest.raises(DomainError) as excinfo:
        signup(invitation, username="d" * 151)
    assert "150 characters" in excinfo.value.message
    assert not User.objects.filter(email="dana@example.com").exists()
    assert reloaded(invitation).status == InvitationStatus.PENDING


def test_a_link_works_once(team_a, invite):
    invitation, link = invite(team_a.client, "dana@example.com")
    signup(teams.team_invitation_for_token(token_of(link)))

    with pytest.raises(Conflict) as excinfo:
        teams.team_invitation_for_token(token_of(link))
    assert excinfo.value.code == "invitation_accepted"
    assert excinfo.value.message == "This invitation was already accepted. Sign in instead."
    # Even with the invitation in hand (a second tab), nobody else signs up through it.
    with pytest.raises(Conflict):
        teams.team_invitation_accept_signup(
            invitation=invitation, username="second", full_name="", password=NEW_PASSWORD
        )
    assert not User.objects.filter(username="second").exists()


# ======================================================================================================
# Accepting signed in
# ======================================================================================================


def test_the_signed_in_person_must_have_the_invited_address(team_a, make_user, invite):
    stranger = make_user(Role.USER)
    invitation, _ = invite(team_a.client, "dana@example.com")
    assert "This invitation is for dana@example.com, and you are signed in as" in teams.acceptance_refusal(
        invitation, stranger
    )
    with pytest.raises(PermissionRefused) as excinfo:
        teams.team_invitation_accept(invitation=invitation, user=stranger)
    assert stranger.email in excinfo.value.message
    assert reloaded(stranger).team is None
    assert reloaded(invitation).status == InvitationStatus.PENDING


@pytest.mark.parametrize("role", [Role.ADMIN, Role.LAB, Role.SUPER_ADMIN, "django superuser"])
def test_operators_do_not_join_a_team(team_a, make_user, invite, role):
    email = "ops@example.com"
    operator = make_user(Role.CLIENT, email=email, is_superuser=True) if role == "django superuser" else None
    operator = operator or make_user(role, email=email)
    team_before = operator.team_id
    invitation, _ = invite(team_a.client, email)

    with pytest.raises(PermissionRefused) as excinfo:
        teams.team_invitation_accept(invitation=invitation, user=operator)
    assert "Operator accounts (admin, lab) see every tenant by role" in excinfo.value.message
    operator = reloaded(operator)
    assert operator.team_id == team_before and operator.role == (Role.CLIENT if role == "django superuser" else role)
    assert reloaded(invitation).status == InvitationStatus.PENDING


@pytest.mark.parametrize("what", ["accounts", "members"])
def test_a_member_of_a_team_with_accounts_or_members_is_refused(team_a, make_user, make_account, invite, what):
    person = make_user(Role.CLIENT)
    own_team = person.team
    if what == "accounts":
        make_account(person)
    else:
        make_user(Role.USER, team=own_team)
    invitation, _ = invite(team_a.client, person.email)

    with pytest.raises(PermissionRefused) as excinfo:
        teams.team_invitation_accept(invitation=invitation, user=person)
    assert excinfo.value.message == (
        f"You already belong to {own_team.name}. A person belongs to one team: ask its clients to remove you first."
    )
    assert reloaded(person).team == own_team
    assert reloaded(invitation).status == InvitationStatus.PENDING


@pytest.mark.parametrize("role", [Role.USER, Role.CLIENT])
def test_a_client_leaves_their_empty_team_of_their_own_to_join(team_a, make_user, clock, invite, role):
    person = make_user(Role.CLIENT, email="dana@example.com")
    own_team = person.team
    invitation, _ = invite(team_a.client, "DANA@example.com", role)
    assert teams.acceptance_refusal(invitation, person) is None

    joined = teams.team_invitation_accept(invitation=invitation, user=person)

    assert joined.team == team_a.team and joined.role == role  # the invitation's role
    assert reloaded(person).team == team_a.team
    assert not own_team.members.exists()
    invitation = reloaded(invitation)
    assert (invitation.status, invitation.accepted_by, invitation.closed_at) == (
        InvitationStatus.ACCEPTED,
        person,
        clock.now,
    )
    assert set(Account.objects.for_user(joined)) == {team_a.account}


def test_a_person_without_a_team_joins(team_a, team_b, invite):
    teams.team_member_remove(user=team_b.client, member=team_b.viewer)
    invitation, _ = invite(team_a.client, team_b.viewer.email)
    joined = teams.team_invitation_accept(invitation=invitation, user=reloaded(team_b.viewer))
    assert joined.team == team_a.team and joined.role == Role.USER


def test_an_accepted_invitation_cannot_be_accepted_again(team_a, make_user, invite):
    person = make_user(Role.USER, email="dana@example.com")
    invitation, _ = invite(team_a.client, person.email)
    teams.team_invitation_accept(invitation=invitation, user=person)
    with pytest.raises(Conflict) as excinfo:
        teams.team_invitation_accept(invitation=invitation, user=reloaded(person))
    assert excinfo.value.code == "invitation_closed"


# ======================================================================================================
# Expiry
# ======================================================================================================


def test_a_link_works_until_it_expires(team_a, clock, invite):
    invitation, link = invite(team_a.client, "dana@example.com")
    clock.advance(days=settings.TEAM_INVITATION_DAYS, seconds=-1)
    assert teams.team_invitation_for_token(token_of(link)) == invitation
    assert reloaded(invitation).status == InvitationStatus.PENDING


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=30)])
def test_an_expired_link_is_refused_and_the_invitation_expires(team_a, clock, invite, late):
    invitation, link = invite(team_a.client, "dana@example.com")
    clock.now = invitation.expires_at + late

    with pytest.raises(Conflict) as excinfo:
        teams.team_invitation_for_token(token_of(link))
    assert excinfo.value.code == "invitation_expired"
    assert excinfo.value.message == (
        f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
        f"Ask {team_a.client.username} for a new one."
    )
    invitation = reloaded(invitation)
    assert invitation.status == InvitationStatus.EXPIRED
    assert invitation.closed_at == clock.now
    # And it stays refused, with the same message.
    with pytest.raises(Conflict) as again:
        teams.team_invitation_for_token(token_of(link))
    assert again.value.code == "invitation_expired"


def test_an_invitation_that_expired_while_open_on_the_page_is_not_accepted(team_a, make_user, clock, invite):
    person = make_user(Role.USER, email="dana@example.com")
    _, for_person = invite(team_a.client, person.email)
    _, for_newcomer = invite(team_a.client, "newcomer@example.com")
    opened = [teams.team_invitation_for_token(token_of(link)) for link in (for_person, for_newcomer)]
    clock.advance(days=settings.TEAM_INVITATION_DAYS)

    with pytest.raises(Conflict) as signed_in:
        teams.team_invitation_accept(invitation=opened[0], user=person)
    with pytest.raises(Conflict) as signing_up:
        signup(opened[1])
    assert signed_in.value.code == signing_up.value.code == "invitation_closed"
    assert reloaded(person).team is None
    assert not User.objects.filter(email="newcomer@example.com").exists()


# ======================================================================================================
# Revoking
# ======================================================================================================


def test_revoking_closes_a_pending_invitation_and_its_link(team_a, clock, invite):
    invitation, link = invite(team_a.client, "dana@example.com")
    clock.advance(minutes=5)
    revoked = teams.team_invitation_revoke(user=team_a.colleague, invitation=invitation)

    assert revoked.status == InvitationStatus.REVOKED
    assert reloaded(invitation).closed_at == clock.now
    with pytest.raises(Conflict) as excinfo:
        teams.team_invitation_for_token(token_of(link))
    assert excinfo.value.code == "invitation_revoked"
    assert excinfo.value.message == f"This invitation was withdrawn. Ask {team_a.client.username} for a new one."
    with pytest.raises(Conflict):
        signup(invitation)


@pytest.mark.parametrize("status", [InvitationStatus.ACCEPTED, InvitationStatus.REVOKED, InvitationStatus.EXPIRED])
def test_only_a_pending_invitation_can_be_revoked(team_a, invite, status):
    invitation, _ = invite(team_a.client, "dana@example.com")
    TeamInvitation.objects.filter(pk=invitation.pk).update(status=status, closed_at=FROZEN_NOW)
    with pytest.raises(Conflict) as excinfo:
        teams.team_invitation_revoke(user=team_a.client, invitation=invitation)
    assert excinfo.value.code == "not_pending"
    assert excinfo.value.message == f"This invitation is already {status}."
    assert reloaded(invitation).status == status


def test_another_teams_invitation_cannot_be_revoked(team_a, team_b, invite):
    invitation, _ = invite(team_b.client, "dana@example.com")
    with pytest.raises(NotFound):
        teams.team_invitation_revoke(user=team_a.client, invitation=invitation)
    assert reloaded(invitation).status == InvitationStatus.PENDING


def test_a_read_only_member_cannot_revoke(team_a, invite):
    invitation, _ = invite(team_a.client, "dana@example.com")
    with pytest.raises(PermissionRefused):
        teams.team_invitation_revoke(user=team_a.viewer, invitation=invitation)
    assert reloaded(invitation).status == InvitationStatus.PENDING


# ======================================================================================================
# Removing a member
# ======================================================================================================


def test_a_removed_member_keeps_their_sign_in_and_sees_nothing(team_a, make_account):
    own_account = make_account(team_a.colleague, account_name="Colleague's account")
    assert own_account.team == team_a.team

    removed = teams.team_member_remove(user=team_a.client, member=team_a.colleague)

    removed = reloaded(removed)
    assert removed.team is None
    assert removed.is_active and removed.role == Role.CLIENT
    signing_in = Client().post(reverse("login"), {"username": removed.username, "password": TEST_PASSWORD})
    assert signing_in.status_code == 302 and signing_in.wsgi_request.user == removed
    assert removed.account_scope() is None
    assert not Account.objects.for_user(removed).exists()
    # The accounts they connected stay with the team (and still name them as who connected them).
    own_account = reloaded(own_account)
    assert (own_account.team, own_account.user) == (team_a.team, removed)
    assert set(Account.objects.for_user(reloaded(team_a.viewer))) == {team_a.account, own_account}
    assert set(team_a.team.members.all()) == {team_a.client, team_a.viewer}


def test_a_read_only_member_can_be_removed(team_a):
    teams.team_member_remove(user=team_a.colleague, member=team_a.viewer)
    assert reloaded(team_a.viewer).team is None


def test_nobody_removes_themselves(team_a):
    with pytest.raises(DomainError) as excinfo:
        teams.team_member_remove(user=team_a.client, member=team_a.client)
    assert excinfo.value.code == "remove_self"
    assert "another client of the team can" in excinfo.value.message
    assert reloaded(team_a.client).team == team_a.team


def test_another_teams_member_cannot_be_removed(team_a, team_b):
    with pytest.raises(NotFound):
        teams.team_member_remove(user=team_a.client, member=team_b.viewer)
    assert reloaded(team_b.viewer).team == team_b.team


@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN, Role.LAB, Role.SUPER_ADMIN])
def test_only_clients_remove_members(team_a, make_user, role):
    remover = team_a.viewer if role == Role.USER else make_user(role)
    with pytest.raises(PermissionRefused):
        teams.team_member_remove(user=remover, member=team_a.colleague)
    assert reloaded(team_a.colleague).team == team_a.team


# ======================================================================================================
# Renaming
# ======================================================================================================


@pytest.mark.parametrize(
    ("name", "stored"),
    [("  Acme Corp  ", "Acme Corp"), ("x" * 255, "x" * 255), ("Café\u00a0Zürich 日本", "Café\u00a0Zürich 日本")],
)
def test_a_client_renames_the_team(team_a, name, stored):
    assert teams.team_rename(user=team_a.colleague, name=name).name == stored
    assert reloaded(team_a.team).name == stored


@pytest.mark.parametrize(
    "name", ["", "   ", None, "x" * 256, "Acme\nBcc: someone@example.com", "Acme\x00", "A\tB", "A\u2028B"]
)
def test_a_team_name_is_one_line_of_1_to_255_characters(team_a, name):
    with pytest.raises(DomainError) as excinfo:
        teams.team_rename(user=team_a.client, name=name)
    assert excinfo.value.code == "invalid_name"
    assert excinfo.value.message == "A team name is one line of 1 to 255 characters."
    assert reloaded(team_a.team).name == "Acme"


@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN])
def test_only_clients_rename(team_a, make_user, role):
    renamer = team_a.viewer if role == Role.USER else make_user(role)
    with pytest.raises(PermissionRefused):
        teams.team_rename(user=renamer, name="Mine now")
    assert reloaded(team_a.team).name == "Acme"


# ======================================================================================================
# At the same moment (PostgreSQL, real threads and transactions)
# ======================================================================================================

ROUNDS = 5


def at_once(*calls):
    """Run the calls in threads of their own (each with its own connection); their results or exceptions."""
    results: dict[int, object] = {}

    def run(index, call):
        try:
            results[index] = call()
        except Exception as exc:  # the outcome is checked by the caller
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return [results[i] for i in range(len(calls))]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clients_removing_each_other_at_once_leave_one_of_them_in_the_team(make_user, monkeypatch):
    """Both pass the role check at the same moment, then each takes the other out: one must lose, or the
    team is left with nobody who can manage it."""
    real_require_manager = teams._require_manager
    for round_number in range(ROUNDS):
        first = make_user(Role.CLIENT)
        team = first.team
        second = make_user(Role.CLIENT, team=team)
        barrier = threading.Barrier(2)

        def checked_then_together(user, barrier=barrier):
            found = real_require_manager(user)
            barrier.wait(timeout=20)
            return found

        monkeypatch.setattr(teams, "_require_manager", checked_then_together)

        outcomes = at_once(
            lambda first=first, second=second: teams.team_member_remove(user=first, member=second),
            lambda first=first, second=second: teams.team_member_remove(user=second, member=first),
        )

        refused = [outcome for outcome in outcomes if isinstance(outcome, DomainError)]
        assert len(refused) == 1, f"round {round_number}: {outcomes}"
        assert isinstance(refused[0], PermissionRefused)
        assert refused[0].message == "You are no longer a member of this team."
        assert team.members.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_inviting_the_same_address_twice_at_once_leaves_one_open_invitation(make_user, monkeypatch):
    """A double-click on "Send the invitation": both requests succeed, the later one replaces the first."""
    for round_number in range(ROUNDS):
        client = make_user(Role.CLIENT)
        barrier = threading.Barrier(2)

        def token_together(nbytes, barrier=barrier):
            barrier.wait(timeout=20)
            return secrets.token_urlsafe(nbytes)

        monkeypatch.setattr(teams, "secrets", SimpleNamespace(token_urlsafe=token_together))

        outcomes = at_once(
            *[
                lambda client=client: teams.team_invitation_create(user=client, email="dana@example.com", role="user")
                for _ in range(2)
            ]
        )

        assert all(isinstance(outcome, tuple) for outcome in outcomes), f"round {round_number}: {outcomes}"
        statuses = sorted(TeamInvitation.objects.filter(team=client.team).values_list("status", flat=True))
        assert statuses == [InvitationStatus.PENDING, InvitationStatus.REVOKED]


def test_a_removed_member_s_open_invitations_are_withdrawn_with_them(team_a):
    """No way back in through an invitation of one's own (an alias invited before being removed)."""
    invitation, link = teams.team_invitation_create(user=team_a.colleague, email="alias@example.com", role=Role.USER)

    teams.team_member_remove(user=team_a.client, member=team_a.colleague)

    assert reloaded(invitation).status == InvitationStatus.REVOKED
    with pytest.raises(Conflict, match="withdrawn"):
        teams.team_invitation_for_token(token_of(link))
