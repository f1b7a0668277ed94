"""The team API: /api/v1/team/ (GET, PATCH), /api/v1/team/members/ (list, retrieve, DELETE) and
/api/v1/team/invitations/ (list, retrieve, POST, DELETE): who may call what, tenancy (another team's id is a
404), the link returned once, and the error bodies ({"detail", "code"}, validation errors add "errors").

The people: team A ("Acme") has two clients, a read-only viewer and an account; team B ("Globex") the same
(tests.accounts.team_support).
"""

import uuid
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import teams
from accounts.choices import InvitationStatus, Role
from accounts.models import Team, TeamInvitation, User
from tests.accounts.team_support import pending, reloaded, token_of
from tests.conftest import TEST_PASSWORD

# The teams fixtures (clock, make_team, team_a, team_b, invite) live in tests/accounts/team_fixtures.py.
pytest_plugins = ["tests.accounts.team_fixtures"]

pytestmark = pytest.mark.django_db

TEAM = "/api/v1/team/"
MEMBERS = "/api/v1/team/members/"
INVITATIONS = "/api/v1/team/invitations/"


def api_as(user=None) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def everything():
    return (
        sorted(User.objects.values_list("username", "team_id", "role")),
        sorted(TeamInvitation.objects.values_list("email", "status", "team_id")),
        sorted(Team.objects.values_list("name", flat=True)),
    )


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) in ({"detail", "code"}, {"detail", "code", "errors"})
    assert body["detail"] and isinstance(body["detail"], str)
    if code is not None:
        assert body["code"] == code
    return body


@pytest.fixture
def people(team_a, make_user):
    return {
        "client": team_a.client,
        "viewer": team_a.viewer,
        "admin": make_user(Role.ADMIN),
        "lab": make_user(Role.LAB),
        "super_admin": make_user(Role.SUPER_ADMIN),
    }


@pytest.fixture
def open_invitation(team_a, invite):
    invitation, _ = invite(team_a.client, "dana@example.com", Role.CLIENT)
    return invitation


# ======================================================================================================
# Who may call what
# ======================================================================================================


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "{member}" / "{invitation}": team A's colleague / open invitation
    data: dict | None = None
    ok: int = 200

    def url(self, team_a, invitation) -> str:
        return self.path.format(member=team_a.colleague.pk, invitation=invitation.pk)

    def call(self, api, team_a, invitation):
        return getattr(api, self.method)(self.url(team_a, invitation), self.data, format="json")


ENDPOINTS = {
    "team": Endpoint("get", TEAM),
    "rename": Endpoint("patch", TEAM, {"name": "Renamed"}),
    "members": Endpoint("get", MEMBERS),
    "member": Endpoint("get", MEMBERS + "{member}/"),
    "remove member": Endpoint("delete", MEMBERS + "{member}/", ok=204),
    "invitations": Endpoint("get", INVITATIONS),
    "invitation": Endpoint("get", INVITATIONS + "{invitation}/"),
    "invite": Endpoint("post", INVITATIONS, {"email": "eve@example.com", "role": Role.USER}, ok=201),
    "withdraw": Endpoint("delete", INVITATIONS + "{invitation}/", ok=204),
}
READS_OF_MEMBERS = {"team", "members", "member"}

# What each role gets. Clients do everything; read-only users see the team and its members; operators
# belong to no team and get 403 everywhere (the team is a customers' thing). The refusal they are told:
CUSTOMERS_ONLY = "Teams are for customers; operators see every tenant by role."
REFUSALS = {
    "rename": "Only the team's clients rename the team.",
    "remove member": "Only the team's clients remove members.",
    "invitations": "Only the team's clients see and send invitations.",
    "invitation": "Only the team's clients see and send invitations.",
    "invite": "Only the team's clients see and send invitations.",
    "withdraw": "Only the team's clients see and send invitations.",
}


def expected(role, name):
    if role == "client":
        return ENDPOINTS[name].ok, None
    if role == "viewer":
        return (200, None) if name in READS_OF_MEMBERS else (403, REFUSALS[name])
    return 403, REFUSALS.get(name, CUSTOMERS_ONLY)


CALLS = [
    pytest.param(role, name, id=f"{role}-{name}")
    for role in ("client", "viewer", "admin", "lab", "super_admin")
    for name in ENDPOINTS
]


@pytest.mark.parametrize(("role", "name"), CALLS)
def test_who_may_call_what(people, team_a, open_invitation, mailoutbox, role, name):
    endpoint = ENDPOINTS[name]
    before = everything()
    mailoutbox.clear()

    response = endpoint.call(api_as(people[role]), team_a, open_invitation)

    status, refusal = expected(role, name)
    if status >= 400:
        body = assert_error(response, status, "permission_denied")
        assert body["detail"] == refusal
        assert everything() == before
        assert mailoutbox == []
        assert "Acme" not in response.content.decode()
    else:
        assert response.status_code == status, response.content
        if endpoint.method == "get":
            assert everything() == before


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_anonymous_callers_get_401(team_a, open_invitation, name):
    before = everything()
    response = ENDPOINTS[name].call(api_as(), team_a, open_invitation)
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert everything() == before


def test_a_jwt_works_too(team_a):
    token = api_as().post("/api/v1/auth/token/", {"username": team_a.viewer.username, "password": TEST_PASSWORD})
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.data['access']}")
    assert api.get(TEAM).json()["name"] == "Acme"


# ======================================================================================================
# Another team's ids are 404s
# ======================================================================================================

OUTSIDER_CALLS = [
    ("get", MEMBERS + "{their_member}/"),
    ("delete", MEMBERS + "{their_member}/"),
    ("get", INVITATIONS + "{their_invitation}/"),
    ("delete", INVITATIONS + "{their_invitation}/"),
    ("get", MEMBERS + "{nobody}/"),
    ("delete", INVITATIONS + "{nobody}/"),
]


@pytest.mark.parametrize(("method", "path"), OUTSIDER_CALLS)
@pytest.mark.parametrize("who", ["client", "colleague"])
def test_another_teams_member_or_invitation_is_a_404(team_a, team_b, invite, method, path, who):
    their_invitation, _ = invite(team_b.client, "gina@example.com")
    url = path.format(their_member=team_b.viewer.pk, their_invitation=their_invitation.pk, nobody=uuid.uuid4())
    before = everything()

    response = getattr(api_as(getattr(team_a, who)), method)(url)

    assert_error(response, 404, "not_found")
    text = response.content.decode()
    for secret in ("Globex", "gina@example.com", team_b.viewer.email):
        assert secret not in text
    assert everything() == before


def test_lists_hold_only_the_teams_own_rows(team_a, team_b, invite):
    invite(team_a.client, "dana@example.com")
    invite(team_b.client, "gina@example.com")
    api = api_as(team_a.colleague)

    members = api.get(MEMBERS).json()
    assert {row["username"] for row in members["results"]} == {
        team_a.client.username,
        team_a.colleague.username,
        team_a.viewer.username,
    }
    assert [row["email"] for row in api.get(INVITATIONS).json()["results"]] == ["dana@example.com"]
    team = api.get(TEAM).json()
    assert team["name"] == "Acme"
    assert {member["id"] for member in team["members"]} == {str(m.pk) for m in team_a.team.members.all()}


def test_a_customer_without_a_team_gets_a_404_that_says_why(team_a):
    teams.team_member_remove(user=team_a.client, member=team_a.viewer)
    api = api_as(reloaded(team_a.viewer))
    body = assert_error(api.get(TEAM), 404, "not_found")
    assert body["detail"] == "You are not in a team: a client of a team has to invite you."
    assert api.get(MEMBERS).json()["results"] == []


# ======================================================================================================
# The team
# ======================================================================================================


def test_the_team_shows_its_name_and_members(team_a):
    body = api_as(team_a.viewer).get(TEAM).json()
    assert set(body) == {"id", "name", "members", "created_at"}
    assert (body["id"], body["name"]) == (str(team_a.team.pk), "Acme")
    viewer = next(member for member in body["members"] if member["username"] == team_a.viewer.username)
    assert viewer == {
        "id": str(team_a.viewer.pk),
        "username": team_a.viewer.username,
        "full_name": "Acme Viewer",
        "email": team_a.viewer.email,
        "role": "user",
        "created_at": viewer["created_at"],
    }
    assert "password" not in str(body)


def test_a_client_renames_the_team(team_a):
    response = api_as(team_a.colleague).patch(TEAM, {"name": "  Acme Corporation "}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Corporation"
    assert reloaded(team_a.team).name == "Acme Corporation"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "   "}, "This field may not be blank."),
        ({"name": "x" * 256}, "Ensure this field has no more than 255 characters."),
        ({}, "This field is required."),
        ({"name": None}, "This field may not be null."),
    ],
)
def test_a_bad_team_name_is_a_400_with_the_field_errors(team_a, data, message):
    body = assert_error(api_as(team_a.client).patch(TEAM, data, format="json"), 400)
    assert body["errors"] == {"name": [message]}
    assert message in body["detail"]
    assert reloaded(team_a.team).name == "Acme"


def test_a_team_name_of_more_than_one_line_is_refused_by_the_service(team_a):
    body = assert_error(api_as(team_a.client).patch(TEAM, {"name": "Acme\nBcc: x@example.com"}, format="json"), 400)
    assert body == {"detail": "A team name is one line of 1 to 255 characters.", "code": "invalid_name"}
    assert reloaded(team_a.team).name == "Acme"


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_the_team_itself_is_read_and_renamed_only(team_a, method):
    assert_error(getattr(api_as(team_a.client), method)(TEAM, {"name": "X"}, format="json"), 405)
    assert reloaded(team_a.team).name == "Acme"


# ======================================================================================================
# Members
# ======================================================================================================


def test_a_member_is_shown_without_secrets(team_a):
    response = api_as(team_a.viewer).get(f"{MEMBERS}{team_a.client.pk}/")
    assert response.status_code == 200
    assert set(response.json()) == {"id", "username", "full_name", "email", "role", "created_at"}
    assert response.json()["role"] == "client"


def test_deleting_a_member_takes_them_out_of_the_team(team_a, make_account):
    account = make_account(team_a.colleague)
    response = api_as(team_a.client).delete(f"{MEMBERS}{team_a.colleague.pk}/")

    assert response.status_code == 204
    colleague = reloaded(team_a.colleague)
    assert colleague.team is None and colleague.is_active
    assert reloaded(account).team == team_a.team
    assert api_as(team_a.client).get(f"{MEMBERS}{colleague.pk}/").status_code == 404
    assert api_as(colleague).get("/api/v1/accounts/").json()["results"] == []


def test_deleting_yourself_is_refused_with_the_reason(team_a):
    body = assert_error(api_as(team_a.client).delete(f"{MEMBERS}{team_a.client.pk}/"), 400, "remove_self")
    assert body["detail"] == "You cannot remove yourself; another client of the team can."
    assert reloaded(team_a.client).team == team_a.team


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_members_are_not_created_or_edited_through_the_api(team_a, method):
    url = MEMBERS if method == "post" else f"{MEMBERS}{team_a.viewer.pk}/"
    before = everything()
    assert_error(getattr(api_as(team_a.client), method)(url, {"role": "client"}, format="json"), 405)
    assert everything() == before


# ======================================================================================================
# Invitations
# ======================================================================================================


def test_inviting_returns_the_link_once(team_a, mailoutbox, django_capture_on_commit_callbacks):
    api = api_as(team_a.client)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(INVITATIONS, {"email": " Eve@Example.COM", "role": Role.CLIENT}, format="json")

    assert response.status_code == 201, response.content
    assert "no-store" in response.headers["Cache-Control"]  # the answer holds the link: no cache keeps it
    body = response.json()
    invitation = TeamInvitation.objects.get(team=team_a.team)
    assert set(body) == {"id", "email", "role", "status", "invited_by", "expires_at", "created_at", "link"}
    assert (body["id"], body["email"], body["role"], body["status"], body["invited_by"]) == (
        str(invitation.pk),
        "eve@example.com",
        "client",
        "pending",
        team_a.client.username,
    )
    token = token_of(body["link"])
    assert teams.team_invitation_for_token(token) == invitation
    assert body["link"] in mailoutbox[0].body
    # Never again: not in the list, not in the detail.
    for later in (api.get(INVITATIONS), api.get(f"{INVITATIONS}{invitation.pk}/")):
        assert later.status_code == 200
        assert token not in later.content.decode()
        assert "link" not in later.content.decode()
    assert api.get(INVITATIONS).json()["results"][0]["email"] == "eve@example.com"


def test_the_role_defaults_to_read_only(team_a):
    response = api_as(team_a.client).post(INVITATIONS, {"email": "eve@example.com"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "user"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({}, "email", "This field is required."),
        ({"email": "eve@example.com", "role": "admin"}, "role", '"admin" is not a valid choice.'),
        ({"email": "eve@example.com", "role": "super_admin"}, "role", '"super_admin" is not a valid choice.'),
    ],
)
def test_a_bad_invitation_is_a_400_with_the_field_errors(team_a, mailoutbox, data, field, message):
    body = assert_error(api_as(team_a.client).post(INVITATIONS, data, format="json"), 400)
    assert body["errors"] == {field: [message]}
    assert not TeamInvitation.objects.exists()
    assert mailoutbox == []


def test_inviting_a_member_is_a_409(team_a):
    body = assert_error(
        api_as(team_a.client).post(INVITATIONS, {"email": team_a.viewer.email.upper()}, format="json"),
        409,
        "already_member",
    )
    assert body["detail"] == f"{team_a.viewer.email} is already a member of Acme."
    assert not TeamInvitation.objects.exists()


def test_inviting_again_replaces_the_open_invitation(team_a, open_invitation):
    response = api_as(team_a.client).post(INVITATIONS, {"email": "DANA@example.com"}, format="json")
    assert response.status_code == 201
    assert reloaded(open_invitation).status == InvitationStatus.REVOKED
    assert pending(team_a.team) == ["dana@example.com"]
    assert [row["id"] for row in api_as(team_a.client).get(INVITATIONS).json()["results"]] == [response.json()["id"]]


def test_deleting_an_invitation_withdraws_it(team_a, open_invitation):
    api = api_as(team_a.colleague)
    assert api.delete(f"{INVITATIONS}{open_invitation.pk}/").status_code == 204
    assert reloaded(open_invitation).status == InvitationStatus.REVOKED
    assert api.get(INVITATIONS).json()["results"] == []
    # A closed invitation is no longer among the open ones.
    assert_error(api.delete(f"{INVITATIONS}{open_invitation.pk}/"), 404, "not_found")


def test_an_invitation_past_its_expiry_is_not_listed_as_open(team_a, open_invitation, clock):
    clock.now = open_invitation.expires_at
    assert api_as(team_a.client).get(INVITATIONS).json()["results"] == []


# ======================================================================================================
# Constant queries
# ======================================================================================================


def list_queries(api, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", [TEAM, MEMBERS, INVITATIONS])
def test_the_number_of_queries_does_not_grow_with_the_team(team_a, make_user, invite, url):
    api = api_as(team_a.client)
    invite(team_a.client, "first@example.com")
    small = list_queries(api, url)
    for n in range(15):
        make_user(Role.USER, team=team_a.team)
        invite(team_a.colleague, f"invitee{n}@example.com")
    assert list_queries(api, url) == small
    assert small <= 3
