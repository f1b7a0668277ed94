"""The team pages: /team/ (members, open invitations, invite, rename, withdraw, remove) for every role, and
the invitation link's page (/invitations/<token>/) in each of its states, through the Django test client.

The people: team A ("Acme") has two clients, a read-only viewer and an account; team B ("Globex") the same
(tests.accounts.team_support).
"""

import re
import uuid
from html import unescape

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import teams
from accounts.choices import InvitationStatus, Role
from accounts.models import TeamInvitation, User
from spotopt.errors import PermissionRefused
from tests.accounts.team_support import (
    everything,
    path_of,
    pending,
    reloaded,
    signed_in,
    tables_containing,
    token_of,
)
from tests.conftest import TEST_PASSWORD

# The teams fixtures (team_a, team_b, invite, people, open_invitation) live in tests/accounts/team_fixtures.py
# (make_team and clock in tests/conftest.py).
pytest_plugins = ["tests.accounts.team_fixtures"]

pytestmark = pytest.mark.django_db

TEAM = "/team/"
NEW_PASSWORD = "violet-tapir-harbour-42"


def page(response) -> str:
    return unescape(response.content.decode())


def words(response) -> str:
    """The page's text as a person reads it: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page(response)).split()).replace(" .", ".")


def post_actions(text: str) -> list[str]:
    """The actions of the POST forms on a page, sign-out left out ("" for a form that posts to itself)."""
    forms = re.findall(r'<form[^>]*method="post"[^>]*>', text)
    actions = [(re.search(r'action="([^"]*)"', form) or [None, ""])[1] for form in forms]
    return [action for action in actions if action != "/logout/"]


def csrf_token_of(text: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)[1]


# ======================================================================================================
# Who may open /team/
# ======================================================================================================


def test_a_client_manages_the_team(team_a, open_invitation):
    response = signed_in(team_a.client).get(TEAM)

    assert response.status_code == 200
    text = page(response)
    assert '<h1 class="page-title">Acme</h1>' in text
    for member in (team_a.client, team_a.colleague, team_a.viewer):
        assert f'data-member="{member.username}"' in text
        assert member.email in text
    assert "Acme Client (you)" in words(response)
    assert "Read-only user" in text
    # Remove buttons for the others, not for themselves; a Withdraw button per open invitation; both forms.
    assert sorted(post_actions(text)) == sorted(
        [
            reverse("member_remove", args=[team_a.colleague.pk]),
            reverse("member_remove", args=[team_a.viewer.pk]),
            reverse("invitation_revoke", args=[open_invitation.pk]),
            reverse("team_invite"),
            reverse("team_rename"),
        ]
    )
    assert 'data-invitation="dana@example.com"' in text
    assert f"Remove {team_a.viewer.username} from the team" in text
    assert "Withdraw the invitation of dana@example.com" in text
    assert 'name="email"' in text and 'value="Acme"' in text  # the invite form, the rename form (filled in)


def test_a_read_only_member_sees_the_members_and_no_forms(team_a, open_invitation):
    response = signed_in(team_a.viewer).get(TEAM)

    assert response.status_code == 200
    text = page(response)
    for member in (team_a.client, team_a.colleague, team_a.viewer):
        assert f'data-member="{member.username}"' in text
    assert "Acme Viewer (you)" in words(response)
    assert post_actions(text) == []
    assert "Open invitations" not in text
    assert "dana@example.com" not in text
    assert "Invite a colleague" not in text and 'name="email"' not in text


@pytest.mark.parametrize("role", ["admin", "lab", "super_admin"])
def test_operators_get_the_products_403_page(people, role):
    response = signed_in(people[role]).get(TEAM)
    assert response.status_code == 403
    text = page(response)
    assert "Not allowed" in text
    assert "Teams are for customers. Operators (admin, lab) see every tenant by role" in text
    assert "Acme" not in text


def test_a_customer_without_a_team_is_told_how_to_get_one(team_a):
    teams.team_member_remove(user=team_a.client, member=team_a.viewer)
    response = signed_in(reloaded(team_a.viewer)).get(TEAM)
    assert response.status_code == 200
    text = page(response)
    assert "You are not in a team" in text
    assert team_a.viewer.email in text
    assert '<h1 class="page-title">Team</h1>' in text
    for secret in (team_a.account.account_name, team_a.client.username, team_a.colleague.email):
        assert secret not in text
    assert post_actions(text) == []


def manage_urls(team_a, invitation):
    return {
        "team_invite": (reverse("team_invite"), {"email": "eve@example.com", "role": Role.CLIENT}),
        "team_rename": (reverse("team_rename"), {"name": "Taken over"}),
        "invitation_revoke": (reverse("invitation_revoke", args=[invitation.pk]), {}),
        "member_remove": (reverse("member_remove", args=[team_a.colleague.pk]), {}),
    }


MANAGE = ["team_invite", "team_rename", "invitation_revoke", "member_remove"]
ANSWERS = {
    # Only a client manages. Operators hold no team: the team pages refuse them (403) and a member of a team
    # they do not belong to is not found among theirs (404); admins see every tenant's invitations (403).
    "viewer": {name: 403 for name in MANAGE},
    "admin": {"team_invite": 403, "team_rename": 403, "invitation_revoke": 403, "member_remove": 404},
    "super_admin": {"team_invite": 403, "team_rename": 403, "invitation_revoke": 403, "member_remove": 404},
    "lab": {"team_invite": 403, "team_rename": 403, "invitation_revoke": 404, "member_remove": 404},
}


@pytest.mark.parametrize(
    ("role", "name", "status"),
    [
        pytest.param(role, name, status, id=f"{role}-{name}")
        for role, row in ANSWERS.items()
        for name, status in row.items()
    ],
)
def test_only_clients_post_the_team_forms(people, team_a, open_invitation, mailoutbox, role, name, status):
    url, data = manage_urls(team_a, open_invitation)[name]
    before = everything()
    mailoutbox.clear()

    response = signed_in(people[role]).post(url, data)

    assert response.status_code == status
    assert everything() == before
    assert mailoutbox == []
    if status == 403:
        assert "Not allowed" in page(response)


@pytest.mark.parametrize("name", MANAGE)
def test_anonymous_visitors_are_sent_to_sign_in(team_a, open_invitation, name):
    url, data = manage_urls(team_a, open_invitation)[name]
    before = everything()
    for response in (Client().get(url), Client().post(url, data)):
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"
    assert everything() == before
    response = Client().get(TEAM)
    assert (response.status_code, response.url) == (302, f"{reverse('login')}?next={TEAM}")


@pytest.mark.parametrize("name", MANAGE)
def test_every_team_post_needs_the_csrf_token(team_a, open_invitation, name):
    url, data = manage_urls(team_a, open_invitation)[name]
    client = signed_in(team_a.client, enforce_csrf_checks=True)
    before = everything()

    assert client.post(url, data).status_code == 403
    assert everything() == before

    data = {**data, "csrfmiddlewaretoken": csrf_token_of(page(client.get(TEAM)))}
    assert client.post(url, data).status_code in (201, 302)
    assert everything() != before


# ======================================================================================================
# Inviting
# ======================================================================================================


def test_inviting_shows_the_link_once(team_a, mailoutbox, django_capture_on_commit_callbacks):
    client = signed_in(team_a.client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("team_invite"), {"email": " Eve@Example.com ", "role": Role.CLIENT})

    assert response.status_code == 201
    assert "no-store" in response.headers["Cache-Control"]  # the page holds the link: no cache keeps it
    text = page(response)
    invitation = TeamInvitation.objects.get(team=team_a.team)
    link = re.search(r'<code[^>]*id="invitation-link">([^<]+)</code>', text)[1]
    assert link.startswith(f"{settings.SITE_URL.rstrip('/')}/invitations/")
    assert "Invitation sent to eve@example.com" in text
    assert "this is the only time spotopt shows it" in text
    assert teams.team_invitation_for_token(token_of(link)) == invitation
    assert invitation.role == Role.CLIENT and invitation.invited_by == team_a.client
    assert [mail.to for mail in mailoutbox] == [["eve@example.com"]]
    assert link in mailoutbox[0].body
    # It is listed with a Withdraw button right away, and never shown again.
    assert reverse("invitation_revoke", args=[invitation.pk]) in post_actions(text)
    later = page(client.get(TEAM))
    assert 'data-invitation="eve@example.com"' in later
    assert token_of(link) not in later
    assert "data-new-invitation" not in later


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-address", "role": Role.USER}, "email", "Enter a valid email address."),
        ({"email": "", "role": Role.USER}, "email", "This field is required."),
        ({"email": "eve@example.com", "role": Role.ADMIN}, "role", "Select a valid choice."),
        ("viewer", "email", "is already a member of Acme."),
    ],
    ids=["bad-address", "no-address", "operator-role", "already-member"],
)
def test_an_invitation_the_form_or_the_service_refuses_is_a_400_with_the_reason(
    team_a, mailoutbox, django_capture_on_commit_callbacks, data, field, message
):
    if data == "viewer":
        data = {"email": team_a.viewer.email.upper(), "role": Role.CLIENT}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(team_a.client).post(reverse("team_invite"), data)

    assert response.status_code == 400
    errors = response.context["invite_form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert message in page(response)
    assert not TeamInvitation.objects.exists()
    assert mailoutbox == []


def test_a_refusal_of_the_service_is_the_403_page(team_a, monkeypatch):
    def refuse(**kwargs):
        raise PermissionRefused("Only the team's clients invite and remove members.")

    monkeypatch.setattr(teams, "team_invitation_create", refuse)
    response = signed_in(team_a.client).post(reverse("team_invite"), {"email": "eve@example.com", "role": Role.USER})
    assert response.status_code == 403
    assert "Only the team's clients invite and remove members." in page(response)


def test_inviting_again_shows_a_new_link_and_lists_one_invitation(team_a, open_invitation):
    client = signed_in(team_a.client)
    response = client.post(reverse("team_invite"), {"email": "DANA@example.com", "role": Role.USER})
    assert response.status_code == 201
    assert pending(team_a.team) == ["dana@example.com"]
    assert reloaded(open_invitation).status == InvitationStatus.REVOKED
    assert page(client.get(TEAM)).count('data-invitation="dana@example.com"') == 1


def test_an_invitation_past_its_expiry_is_not_listed_as_open(team_a, open_invitation, clock):
    clock.now = open_invitation.expires_at
    text = page(signed_in(team_a.client).get(TEAM))
    assert 'data-invitation="dana@example.com"' not in text


# ======================================================================================================
# Withdrawing, removing, renaming
# ======================================================================================================


def test_withdrawing_an_invitation(team_a, open_invitation):
    client = signed_in(team_a.colleague)
    response = client.post(reverse("invitation_revoke", args=[open_invitation.pk]), follow=True)

    assert response.redirect_chain == [(TEAM, 302)]
    text = page(response)
    assert "The invitation of dana@example.com is withdrawn; its link no longer works." in text
    assert 'data-invitation="dana@example.com"' not in text
    assert reloaded(open_invitation).status == InvitationStatus.REVOKED

    again = client.post(reverse("invitation_revoke", args=[open_invitation.pk]), follow=True)
    assert again.redirect_chain == [(TEAM, 302)]
    assert "This invitation is already revoked." in page(again)


def test_removing_a_member(team_a):
    client = signed_in(team_a.client)
    response = client.post(reverse("member_remove", args=[team_a.viewer.pk]), follow=True)

    assert response.redirect_chain == [(TEAM, 302)]
    text = page(response)
    assert "Acme Viewer is no longer in the team and sees none of its accounts." in text
    assert f'data-member="{team_a.viewer.username}"' not in text
    assert reloaded(team_a.viewer).team is None
    # They are no longer found among the team's members.
    assert client.post(reverse("member_remove", args=[team_a.viewer.pk])).status_code == 404


def test_nobody_removes_themselves_from_the_page(team_a):
    response = signed_in(team_a.client).post(reverse("member_remove", args=[team_a.client.pk]), follow=True)
    assert response.redirect_chain == [(TEAM, 302)]
    assert "You cannot remove yourself; another client of the team can." in page(response)
    assert reloaded(team_a.client).team == team_a.team


def test_renaming_the_team(team_a):
    client = signed_in(team_a.colleague)
    response = client.post(reverse("team_rename"), {"name": "  Acme Corporation "}, follow=True)
    assert response.redirect_chain == [(TEAM, 302)]
    text = page(response)
    assert "Team renamed." in text
    assert '<h1 class="page-title">Acme Corporation</h1>' in text
    assert reloaded(team_a.team).name == "Acme Corporation"


@pytest.mark.parametrize(
    ("name", "message"),
    [("   ", "This field is required."), ("x" * 256, "Ensure this value has at most 255 characters")],
)
def test_a_bad_team_name_is_a_400_with_the_reason(team_a, name, message):
    response = signed_in(team_a.client).post(reverse("team_rename"), {"name": name})
    assert response.status_code == 400
    assert message in " ".join(response.context["rename_form"].errors["name"])
    assert message in page(response)
    assert reloaded(team_a.team).name == "Acme"


@pytest.mark.parametrize("name", ["team_invite", "team_rename"])
def test_a_get_of_a_form_url_goes_back_to_the_team_page(team_a, name):
    response = signed_in(team_a.client).get(reverse(name))
    assert (response.status_code, response.url) == (302, TEAM)


# ======================================================================================================
# Another team's objects are not found
# ======================================================================================================


def outsider_targets(team_b, invitation_b):
    return {
        "their invitation": reverse("invitation_revoke", args=[invitation_b.pk]),
        "their client": reverse("member_remove", args=[team_b.client.pk]),
        "their viewer": reverse("member_remove", args=[team_b.viewer.pk]),
        "no such invitation": reverse("invitation_revoke", args=[uuid.uuid4()]),
        "no such member": reverse("member_remove", args=[uuid.uuid4()]),
    }


@pytest.mark.parametrize(
    "target", ["their invitation", "their client", "their viewer", "no such invitation", "no such member"]
)
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("who", ["client", "viewer"])
def test_another_teams_invitation_or_member_is_a_404(team_a, team_b, invite, target, method, who):
    invitation_b, _ = invite(team_b.client, "gina@example.com")
    url = outsider_targets(team_b, invitation_b)[target]
    before = everything()

    response = getattr(signed_in(getattr(team_a, who)), method)(url)

    assert response.status_code == 404
    text = page(response)
    for secret in ("Globex", "gina@example.com", team_b.client.email, team_b.viewer.username):
        assert secret not in text
    assert everything() == before


def test_the_team_page_shows_nothing_of_another_team(team_a, team_b, invite):
    invite(team_b.client, "gina@example.com")
    text = page(signed_in(team_a.client).get(TEAM))
    for secret in ("Globex", "gina@example.com", team_b.client.username, team_b.viewer.email):
        assert secret not in text


# ======================================================================================================
# The number of queries does not grow with the team
# ======================================================================================================

# The session, the user, their team, its members, and (for a client) its open invitations.
TEAM_PAGE_QUERIES = {"client": 5, "viewer": 4}


def team_page_queries(user) -> int:
    client = signed_in(user)
    client.get(TEAM)  # warm the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(TEAM)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("who", ["client", "viewer"])
def test_the_team_page_makes_the_same_queries_whatever_the_team_size(
    team_a, make_user, invite, django_assert_num_queries, who
):
    user = getattr(team_a, who)
    invite(team_a.client, "first@example.com")
    small = team_page_queries(user)
    for n in range(12):
        make_user(Role.USER if n % 2 else Role.CLIENT, team=team_a.team)
        invite(team_a.client, f"invitee{n}@example.com", Role.USER if n % 2 else Role.CLIENT)
    client = signed_in(user)
    client.get(TEAM)

    with django_assert_num_queries(TEAM_PAGE_QUERIES[who]):
        text = page(client.get(TEAM))

    assert text.count("data-member=") == 15
    assert text.count("data-invitation=") == (13 if who == "client" else 0)
    assert small == TEAM_PAGE_QUERIES[who]


# ======================================================================================================
# The invitation link's page
# ======================================================================================================


@pytest.fixture
def links(team_a, invite):
    """Invite `email` (by team A's first client unless told) and return the invitation and its link's path:
    the test can open it although only the token's hash is in the database."""

    def make(email, role=Role.CLIENT, inviter=None):
        invitation, link = invite(inviter or team_a.client, email, role)
        return invitation, path_of(link)

    return make


def test_a_newcomer_sees_who_invites_them_where_and_a_signup_form(team_a, links):
    _, path = links("dana@example.com")
    response = Client().get(path)

    assert response.status_code == 200
    assert "no-cache" in response.headers["Cache-Control"]
    text = page(response)
    assert "Acme Client invited dana@example.com to join Acme as a client." in words(response)
    assert post_actions(text) == [""]  # the signup form posts to the link itself
    for field in ("username", "full_name", "password", "password_again"):
        assert f'name="{field}"' in text
    # Whoever holds the link sees the team's name and the role only: no members, no accounts.
    for secret in (team_a.account.account_name, team_a.colleague.username, team_a.viewer.email):
        assert secret not in text


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("invalid", "This invitation link is not valid. Check that you copied the whole link."),
        ("revoked", "This invitation was withdrawn. Ask {inviter} for a new one."),
        ("accepted", "This invitation was already accepted. Sign in instead."),
        ("expired", "This invitation expired on {expires} UTC. Ask {inviter} for a new one."),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_link_that_no_longer_works_says_why(team_a, links, clock, state, message, method):
    invitation, path = links("dana@example.com")
    if state == "invalid":
        path = path[:-5] + "/"
    elif state == "revoked":
        teams.team_invitation_revoke(user=team_a.client, invitation=invitation)
    elif state == "accepted":
        teams.team_invitation_accept_signup(invitation=invitation, username="dana", full_name="", password=NEW_PASSWORD)
    else:
        clock.now = invitation.expires_at
    users = User.objects.count()

    data = {"username": "late", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    response = getattr(Client(), method)(path, data if method == "post" else None)

    # A link that never was is not found; one that no longer works is gone.
    assert response.status_code == (404 if state == "invalid" else 410)
    text = page(response)
    expected = message.format(inviter=team_a.client.username, expires=f"{invitation.expires_at:%Y-%m-%d %H:%M}")
    assert expected in text
    assert post_actions(text) == []
    assert "Acme" not in text
    assert User.objects.count() == users
    if state == "expired":
        assert reloaded(invitation).status == InvitationStatus.EXPIRED


def signup_data(**overrides):
    data = {"username": "dana", "full_name": "Dana Scully", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password_again": "something-else-77"}, "password_again", "The two passwords differ."),
        ({"password": "short-9", "password_again": "short-9"}, "password", "This password is too short."),
        (
            {"password": "1234567890123", "password_again": "1234567890123"},
            "password",
            "This password is entirely numeric.",
        ),
        ({"username": ""}, "username", "This field is required."),
        ({"username": "TAKEN"}, "username", "The username 'TAKEN' is taken; choose another."),
        ({"username": "d" * 151}, "username", "Ensure this value has at most 150 characters"),
    ],
    ids=["passwords-differ", "short-password", "numeric-password", "no-username", "taken-username", "long-username"],
)
def test_signup_errors_are_shown_on_the_form_and_change_nothing(make_user, links, overrides, field, message):
    make_user(Role.USER, username="taken")
    invitation, path = links("dana@example.com")
    users = User.objects.count()

    response = Client().post(path, signup_data(**overrides))

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    text = page(response)
    assert message in text
    assert NEW_PASSWORD not in text and "short-9" not in text  # passwords are not rendered back
    assert User.objects.count() == users
    assert reloaded(invitation).status == InvitationStatus.PENDING
    assert "_auth_user_id" not in response.wsgi_request.session


def test_an_address_that_already_signs_in_is_told_to_sign_in(team_b, links):
    invitation, path = links(team_b.viewer.email)
    response = Client().post(path, signup_data())
    assert response.status_code == 400
    assert f"{team_b.viewer.email} already has a spotopt sign-in: sign in, then open the link again." in page(response)
    assert reloaded(invitation).status == InvitationStatus.PENDING


@pytest.mark.parametrize("role", [Role.USER, Role.CLIENT])
def test_signing_up_signs_in_and_lands_on_the_teams_accounts(team_a, links, role):
    invitation, path = links("dana@example.com", role)
    client = Client(enforce_csrf_checks=True)
    token = csrf_token_of(page(client.get(path)))

    response = client.post(path, {**signup_data(), "csrfmiddlewaretoken": token}, follow=True)

    assert response.redirect_chain == [(reverse("account_list"), 302)]
    assert response.status_code == 200
    user = User.objects.get(username="dana")
    assert (user.email, user.role, user.team) == ("dana@example.com", role, team_a.team)
    assert response.wsgi_request.user == user
    text = page(response)
    assert "Welcome to Acme." in text
    assert team_a.account.account_name in text
    invitation = reloaded(invitation)
    assert (invitation.status, invitation.accepted_by) == (InvitationStatus.ACCEPTED, user)
    # The link is spent.
    assert Client().get(path).status_code == 410


def test_the_signup_needs_the_csrf_token(links):
    invitation, path = links("dana@example.com")
    response = Client(enforce_csrf_checks=True).post(path, signup_data())
    assert response.status_code == 403
    assert not User.objects.filter(username="dana").exists()
    assert reloaded(invitation).status == InvitationStatus.PENDING


def test_signed_in_with_another_address_the_page_says_so_and_joining_is_refused(team_b, links):
    invitation, path = links("dana@example.com")
    client = signed_in(team_b.viewer)

    response = client.get(path)
    assert response.status_code == 200
    text = page(response)
    assert f"This invitation is for dana@example.com, and you are signed in as {team_b.viewer.email}." in text
    assert post_actions(text) == []

    response = client.post(path)
    assert response.status_code == 409
    assert "you are signed in as" in page(response)
    assert reloaded(team_b.viewer).team == team_b.team
    assert reloaded(invitation).status == InvitationStatus.PENDING


def test_signed_in_with_the_invited_address_joining_takes_one_click(team_a, team_b, links):
    teams.team_member_remove(user=team_b.client, member=team_b.viewer)
    person = reloaded(team_b.viewer)
    invitation, path = links(person.email.upper(), Role.USER)
    client = signed_in(person, enforce_csrf_checks=True)

    text = page(client.get(path))
    assert post_actions(text) == [""]
    assert "Join Acme" in text
    assert client.post(path).status_code == 403  # without the CSRF token
    assert reloaded(person).team is None

    response = client.post(path, {"csrfmiddlewaretoken": csrf_token_of(text)}, follow=True)

    assert response.redirect_chain == [(reverse("account_list"), 302)]
    assert "You joined Acme." in page(response)
    assert team_a.account.account_name in page(response)
    assert reloaded(person).team == team_a.team
    assert reloaded(invitation).status == InvitationStatus.ACCEPTED


@pytest.mark.parametrize("role", ["admin", "lab", "super_admin"])
def test_an_operator_with_the_invited_address_is_refused(team_a, make_user, links, role):
    operator = make_user(role, email="ops@example.com")
    invitation, path = links("ops@example.com")
    client = signed_in(operator)
    text = page(client.get(path))
    assert "Operator accounts (admin, lab) see every tenant by role" in text
    assert post_actions(text) == []
    assert client.post(path).status_code == 409
    assert reloaded(operator).team is None
    assert reloaded(invitation).status == InvitationStatus.PENDING


def test_a_member_of_a_team_with_accounts_is_refused_on_the_page(team_b, links):
    _, path = links(team_b.client.email)
    client = signed_in(team_b.client)
    text = page(client.get(path))
    assert "You already belong to Globex. A person belongs to one team" in text
    assert client.post(path).status_code == 409
    assert reloaded(team_b.client).team == team_b.team


def test_a_failed_sign_in_from_the_invitation_page_stores_no_token(team_a, links):
    """The page's "Sign in" link must not carry the link's token to the sign-in page: django-axes records the
    query string and the form of every failed sign-in in the database."""
    _, path = links("dana@example.com")
    client = Client()
    text = page(client.get(path))
    sign_in = re.search(r'<a href="([^"]*)">Sign in</a>', text)[1]
    assert token_of(path) not in sign_in

    login_page = page(client.get(sign_in))
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', login_page))
    for password in ("not-the-password", TEST_PASSWORD):  # a typo, then the right one (as a browser posts)
        client.post(sign_in, {**hidden, "username": team_a.viewer.username, "password": password})

    assert token_of(path) not in login_page
    assert tables_containing(token_of(path)) == []
