"""The team API: /api/v1/team/ (GET, PATCH), /api/v1/team/members/ (list, retrieve, DELETE) and
/api/v1/team/invitations/ (list, retrieve, POST, DELETE): who may call what, tenancy (another team's id is a
404), the link returned once, and the error bodies ({"detail", "code"}, validation errors add "errors"). For
members and invitations the API contract is tests/api_contract.py's (TestMembersContract,
TestInvitationsContract).

The people: team A ("Acme") has two clients, a read-only viewer and an account; team B ("Globex") the same
(conftest's make_team).
"""

import pytest

from accounts import teams
from accounts.api import TEAMS_ARE_FOR_CUSTOMERS
from accounts.choices import InvitationStatus, Role
from accounts.models import Team, TeamInvitation, User
from tests.accounts.team_support import everything, pending, reloaded, token_of
from tests.api_contract import ApiContract, Call, Endpoint, api_as, assert_error, jwt_client, query_count

# The teams fixtures (team_a, team_b, invite, people, open_invitation) live in tests/accounts/team_fixtures.py
# (make_team and clock in tests/conftest.py).
pytest_plugins = ["tests.accounts.team_fixtures"]

pytestmark = pytest.mark.django_db

TEAM = "/api/v1/team/"
MEMBERS = "/api/v1/team/members/"
INVITATIONS = "/api/v1/team/invitations/"
CLIENTS = frozenset({Role.CLIENT})
INVITATIONS_REFUSAL = "Only the team's clients see and send invitations."
EVE = {"email": "eve@example.com", "role": Role.USER}


# ======================================================================================================
# The API contract of members and invitations (tests/api_contract.py): who may call what (clients do
# everything; read-only users see the members; operators belong to no team and get 403 everywhere), another
# team's ids are 404s, the lists paginate in constant queries
# ======================================================================================================

TEAM_ROWS = (User, TeamInvitation, Team)


def contract_member(tenant, n):
    """Row n of the contract checks: a member of the team, read-only or client by turns (row 0 read-only)."""
    return tenant.fixture("make_user")([Role.USER, Role.CLIENT][n % 2], team=tenant.team, full_name=f"Member {n}")


def contract_invitation(tenant, n):
    """Row n of the contract checks: an open invitation of the team, sent by either client."""
    invitation, _ = teams.team_invitation_create(
        user=[tenant.client, tenant.colleague][n % 2], email=f"invitee{n}@example.com", role=Role.USER
    )
    return invitation


class TestMembersContract(ApiContract):
    endpoint = Endpoint(
        list_url=MEMBERS,
        make=contract_member,
        models=TEAM_ROWS,
        secrets=lambda member: [member.username, member.email],
        readers=frozenset({Role.CLIENT, Role.USER}),
        read_refusal=TEAMS_ARE_FOR_CUSTOMERS,
        writers=CLIENTS,
        write_refusal="Only the team's clients remove members.",
        writes=(Call("remove member", "delete", "{pk}/", ok=204),),
        not_allowed=(
            Call("create", "post", "", {"role": "client"}),
            Call("update", "put", "{pk}/", {"role": "client"}),
            Call("partial_update", "patch", "{pk}/", {"role": "client"}),
        ),
        max_list_queries=3,
    )


class TestInvitationsContract(ApiContract):
    endpoint = Endpoint(
        list_url=INVITATIONS,
        make=contract_invitation,
        models=TEAM_ROWS,
        secrets=lambda invitation: [invitation.email],
        readers=CLIENTS,
        read_refusal=INVITATIONS_REFUSAL,
        writers=CLIENTS,
        write_refusal=INVITATIONS_REFUSAL,
        writes=(
            Call("invite", "post", "", EVE, ok=201, answer={**EVE, "status": "pending"}),
            Call("withdraw", "delete", "{pk}/", ok=204),
        ),
        not_allowed=(
            Call("update", "put", "{pk}/", {"email": "eve@example.com"}),
            Call("partial_update", "patch", "{pk}/", {"role": Role.CLIENT}),
        ),
        max_list_queries=3,
    )


# ======================================================================================================
# Who may read and rename the team (/api/v1/team/: one object, not a list)
# ======================================================================================================

RENAME = {"name": "Renamed"}
TEAM_CALLS = {"team": ("get", None), "rename": ("patch", RENAME)}
# Clients do both; read-only users see the team; operators belong to no team. What the refused are told:
REFUSALS = {"rename": "Only the team's clients rename the team."}


def expected(role, name):
    if role == "client" or (role == "viewer" and name == "team"):
        return 200, None
    return 403, REFUSALS.get(name, TEAMS_ARE_FOR_CUSTOMERS)


@pytest.mark.parametrize("name", list(TEAM_CALLS))
@pytest.mark.parametrize("role", ["client", "viewer", "admin", "lab", "super_admin"])
def test_who_may_read_and_rename_the_team(people, team_a, mailoutbox, role, name):
    method, data = TEAM_CALLS[name]
    before = everything()

    response = getattr(api_as(people[role]), method)(TEAM, data, format="json")

    status, refusal = expected(role, name)
    if status >= 400:
        body = assert_error(response, status, "permission_denied")
        assert body["detail"] == refusal
        assert everything() == before
        assert mailoutbox == []
        assert "Acme" not in response.content.decode()
    else:
        assert response.status_code == status, response.content
        if method == "get":
            assert everything() == before


@pytest.mark.parametrize("name", list(TEAM_CALLS))
def test_anonymous_callers_get_401(team_a, name):
    method, data = TEAM_CALLS[name]
    before = everything()
    response = getattr(api_as(), method)(TEAM, data, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert everything() == before


def test_a_jwt_works_too(team_a):
    assert jwt_client(team_a.viewer).get(TEAM).json()["name"] == "Acme"


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


def test_the_number_of_queries_of_the_team_does_not_grow_with_it(team_a, make_user, invite):
    """(The members' and invitations' lists are the contract's check.)"""
    api = api_as(team_a.client)
    invite(team_a.client, "first@example.com")
    small, _ = query_count(api, TEAM)
    for n in range(15):
        make_user(Role.USER, team=team_a.team)
        invite(team_a.colleague, f"invitee{n}@example.com")
    assert query_count(api, TEAM)[0] == small
    assert small <= 3
