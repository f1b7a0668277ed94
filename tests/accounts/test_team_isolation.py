"""Teams keep their tenants apart: the outsider matrix over every page and API route that shows or changes a
tenant's rows (accounts, instances, approval requests).

- Members of team A (a client, a read-only user) see nothing of team B: lists do not contain B's rows,
  B's objects are 404s (and a write on one answers exactly what a write on an id that does not exist does).
- A read-only user invited into team A sees A's accounts, instances and approvals and changes nothing.
- A member removed from team A sees nothing at all, even the account they connected (they stay its owner).
- Clients of team A decide LOW/MEDIUM requests on A's accounts, whoever connected them, never B's; the
  emails about a new request go to A's clients (and the operators), not to B's.

The people: team A ("Acme") has two clients (the first connected its account), a read-only viewer and an
account; team B ("Globex") the same (tests.accounts.team_support). Each account has an instance and a LOW,
a MEDIUM and a HIGH request.
"""

import re
import uuid
from dataclasses import dataclass, field
from html import unescape

import pytest
from django.urls import reverse

from accounts import teams
from accounts.choices import EnvironmentType, Role
from accounts.models import Account
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.notifications import approvers_for
from approvals.policy import decision_refusal
from approvals.services import approval_request_create
from fleet.models import Instance
from tests.accounts.team_support import reloaded, signed_in
from tests.api_contract import api_as
from tests.aws_fixtures import fixed_platform  # noqa: F401

# The teams fixtures (team_a, team_b, invite, people, open_invitation) live in tests/accounts/team_fixtures.py
# (make_team and clock in tests/conftest.py).
pytest_plugins = ["tests.accounts.team_fixtures"]

# Fresh throttle counters, and the platform's AWS principal from settings (the template needs it).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fixed_platform")]

PAYLOAD = {"instance_id": "i-0abc1234", "region": "us-east-1"}


@dataclass
class Estate:
    """A team's rows: its account, an instance, and a request of each risk on the account."""

    cast: object
    account: Account
    instance: Instance
    approvals: dict = field(default_factory=dict)

    def objects(self) -> dict:
        return {"account": self.account, "instance": self.instance, "approval": self.approvals[RiskLevel.MEDIUM]}


@pytest.fixture
def estate(make_instance, make_approval):
    def build(cast):
        instance = make_instance(cast.account, instance_id=f"i-{uuid.uuid4().hex[:17]}")
        built = Estate(cast=cast, account=cast.account, instance=instance)
        for risk in (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH):
            built.approvals[risk] = make_approval(
                account=cast.account,
                instance=instance,
                risk_level=risk,
                action_type=ActionType.TERMINATE_ROGUE,
                action_payload={**PAYLOAD, "instance_id": instance.instance_id},
            )
        return built

    return build


@pytest.fixture
def a(team_a, estate):
    return estate(team_a)


@pytest.fixture
def b(team_b, estate):
    return estate(team_b)


def rows():
    """Every row a tenant's page or endpoint could change, for 'nothing changed' checks."""
    return (
        list(Account.objects.order_by("pk").values()),
        list(Instance.objects.order_by("pk").values()),
        list(ApprovalRequest.objects.order_by("pk").values()),
    )


# ======================================================================================================
# The routes
# ======================================================================================================


@dataclass(frozen=True)
class Listing:
    """A list page or endpoint and how one of its rows shows up in it."""

    url: str
    kind: str  # "account" | "instance" | "approval"
    api: bool

    def shown(self, user, estate) -> bool:
        obj = estate.objects()[self.kind]
        if self.api:
            response = api_as(user).get(self.url)
            assert response.status_code == 200
            return str(obj.pk) in {row["id"] for row in response.json()["results"]}
        response = signed_in(user).get(self.url)
        assert response.status_code == 200
        text = unescape(response.content.decode())
        detail = {"account": "account_detail", "instance": "instance_detail", "approval": "approval_detail"}
        markers = [reverse(detail[self.kind], args=[obj.pk])]
        markers += {
            "account": [estate.account.account_name, estate.account.account_id],
            "instance": [estate.instance.instance_id],
            "approval": [],
        }[self.kind]
        found = [marker for marker in markers if marker in text]
        assert found in ([], markers), f"{self.url} shows only part of the row: {found}"
        return bool(found)

    def mentions(self, user, estate) -> list[str]:
        """Which of the estate's identifiers appear anywhere in what the user is answered (a name in a
        filter's choices, an id in a link, a row in a summary)."""
        response = api_as(user).get(self.url) if self.api else signed_in(user).get(self.url)
        text = unescape(response.content.decode())
        identifiers = [
            estate.account.account_name,
            estate.account.account_id,
            str(estate.account.pk),
            estate.instance.instance_id,
            str(estate.instance.pk),
            *[str(approval.pk) for approval in estate.approvals.values()],
        ]
        return [identifier for identifier in identifiers if identifier in text]

    def everything(self, user) -> list[str]:
        """Every row the user is shown: the ids of the API's results, the detail links of the page."""
        if self.api:
            response = api_as(user).get(self.url)
            assert response.status_code == 200
            return [row["id"] for row in response.json()["results"]]
        response = signed_in(user).get(self.url)
        assert response.status_code == 200
        return re.findall(DETAIL_LINKS[self.kind], response.content.decode())


UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DETAIL_LINKS = {
    "account": f'href="/accounts/{UUID}/',
    "instance": f'href="/fleet/instances/{UUID}/',
    "approval": f'href="/approvals/{UUID}/',
}


LISTINGS = [
    Listing("/accounts/", "account", api=False),
    Listing("/fleet/", "account", api=False),  # the fleet page breaks the fleet down by account
    Listing("/fleet/", "instance", api=False),
    Listing("/approvals/", "approval", api=False),
    Listing("/api/v1/accounts/", "account", api=True),
    Listing("/api/v1/instances/", "instance", api=True),
    Listing("/api/v1/approvals/", "approval", api=True),
]
LISTING_IDS = [f"{listing.url}-{listing.kind}" for listing in LISTINGS]

# Detail routes: (name, kind); API paths are formatted with the object's pk.
DETAILS = [
    ("account_detail", "account"),
    ("instance_detail", "instance"),
    ("approval_detail", "approval"),
    ("/api/v1/accounts/{}/", "account"),
    ("/api/v1/instances/{}/", "instance"),
    ("/api/v1/approvals/{}/", "approval"),
    ("/api/v1/onboarding/{}/discovery/", "account"),
    ("/api/v1/onboarding/{}/template/", "account"),
]


def detail_url(route, pk) -> str:
    return route.format(pk) if route.startswith("/") else reverse(route, args=[pk])


def get(user, url):
    return (api_as(user) if url.startswith("/api/") else signed_in(user)).get(url)


@dataclass(frozen=True)
class Write:
    """A page POST or API call that changes a tenant's object."""

    route: str
    kind: str
    method: str = "post"
    data: dict = field(default_factory=dict)

    def url(self, pk) -> str:
        return detail_url(self.route, pk)

    def call(self, user, pk):
        url = self.url(pk)
        if url.startswith("/api/"):
            return getattr(api_as(user), self.method)(url, self.data, format="json")
        return signed_in(user).post(url, self.data)


WRITES = [
    # pages
    Write("account_delete", "account"),
    Write("account_update", "account", data={"account_name": "Mine now", "environment_type": "PROD"}),
    Write("account_verify", "account", data={"role_arn": "arn:aws:iam::123456789012:role/Mine"}),
    Write("account_connect_keys", "account", data={"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "x"}),
    Write("account_retry", "account"),
    Write("account_rediscover", "account"),
    Write("instance_lab_update", "instance", data={"pipeline_mode": "CLUSTER"}),
    Write("approval_approve", "approval", data={"comment": "ok"}),
    Write("approval_reject", "approval", data={"comment": "no"}),
    Write("approval_retry", "approval"),
    # API
    Write("/api/v1/accounts/{}/", "account", "patch", {"account_name": "Mine now"}),
    Write("/api/v1/accounts/{}/", "account", "delete"),
    Write("/api/v1/accounts/{}/retry/", "account"),
    Write("/api/v1/onboarding/{}/verify/", "account", data={"role_arn": "arn:aws:iam::123456789012:role/Mine"}),
    Write(
        "/api/v1/onboarding/{}/credentials/",
        "account",
        data={"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "x" * 40},
    ),
    Write("/api/v1/onboarding/{}/discovery/", "account"),
    Write("/api/v1/instances/{}/", "instance", "patch", {"pipeline_mode": "CLUSTER"}),
    Write("/api/v1/approvals/{}/approve/", "approval", data={"comment": "ok"}),
    Write("/api/v1/approvals/{}/reject/", "approval", data={"comment": "no"}),
    Write("/api/v1/approvals/{}/retry/", "approval"),
]
WRITE_IDS = [f"{write.method}-{write.route}" for write in WRITES]


# ======================================================================================================
# Outsiders see nothing of team B
# ======================================================================================================

MEMBERS = ["client", "colleague", "viewer"]


@pytest.mark.parametrize("listing", LISTINGS, ids=LISTING_IDS)
@pytest.mark.parametrize("who", MEMBERS)
def test_lists_show_the_teams_rows_and_none_of_another_teams(a, b, listing, who):
    user = getattr(a.cast, who)
    assert listing.shown(user, a)
    assert not listing.shown(user, b)
    assert listing.mentions(user, b) == []
    # And the other way round.
    assert listing.shown(getattr(b.cast, who), b)
    assert listing.mentions(getattr(b.cast, who), a) == []


@pytest.mark.parametrize(("route", "kind"), DETAILS, ids=[route for route, _ in DETAILS])
@pytest.mark.parametrize("who", MEMBERS)
def test_another_teams_object_is_a_404(a, b, route, kind, who):
    user = getattr(a.cast, who)
    mine = get(user, detail_url(route, a.objects()[kind].pk))
    assert mine.status_code == 200, mine.content[:300]

    theirs = get(user, detail_url(route, b.objects()[kind].pk))

    assert theirs.status_code == 404
    text = unescape(theirs.content.decode())
    for secret in ("Globex", b.account.account_id, b.instance.instance_id, b.cast.client.username):
        assert secret not in text
    if route.startswith("/api/"):
        assert theirs.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.parametrize("write", WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("who", MEMBERS)
def test_a_write_on_another_teams_object_answers_as_if_it_did_not_exist(a, b, write, who):
    """Mostly a 404. Where a route checks the role before it looks anything up (the API's writes for a
    read-only user, Lab fields for a client) it is a 403 for any id. Either way the answer for B's object is
    exactly the answer for an id that does not exist, so it tells nothing, and nothing changes."""
    user = getattr(a.cast, who)
    before = rows()

    theirs = write.call(user, b.objects()[write.kind].pk)
    nobody = write.call(user, uuid.uuid4())

    assert theirs.status_code in (403, 404)
    assert theirs.status_code == nobody.status_code
    if write.url(uuid.uuid4()).startswith("/api/"):
        assert theirs.json() == nobody.json()
    text = unescape(theirs.content.decode())
    for secret in ("Globex", b.account.account_id, b.instance.instance_id):
        assert secret not in text
    assert rows() == before


def test_approvers_of_team_a_are_not_offered_team_bs_requests(a, b):
    for risk in (RiskLevel.LOW, RiskLevel.MEDIUM):
        for decider in (a.cast.client, a.cast.colleague):
            assert decision_refusal(decider, b.approvals[risk]) == "Clients decide requests on their own accounts only."


# ======================================================================================================
# A read-only user in team A
# ======================================================================================================


@pytest.fixture
def invited_viewer(team_a, make_user):
    """A read-only user who joined team A by invitation (they had no team before)."""
    person = make_user(Role.USER, email="vic@example.com")
    invitation, _ = teams.team_invitation_create(user=team_a.client, email=person.email, role=Role.USER)
    return teams.team_invitation_accept(invitation=invitation, user=person)


@pytest.mark.parametrize("listing", LISTINGS, ids=LISTING_IDS)
def test_an_invited_read_only_user_sees_the_teams_rows(a, b, invited_viewer, listing):
    assert listing.shown(invited_viewer, a)
    assert not listing.shown(invited_viewer, b)
    assert listing.mentions(invited_viewer, b) == []


@pytest.mark.parametrize(("route", "kind"), DETAILS, ids=[route for route, _ in DETAILS])
def test_an_invited_read_only_user_opens_the_teams_objects(a, invited_viewer, route, kind):
    assert get(invited_viewer, detail_url(route, a.objects()[kind].pk)).status_code == 200


@pytest.mark.parametrize("write", WRITES, ids=WRITE_IDS)
def test_an_invited_read_only_user_changes_nothing(a, invited_viewer, write):
    before = rows()
    response = write.call(invited_viewer, a.objects()[write.kind].pk)
    assert response.status_code == 403, response.content[:300]
    assert rows() == before


@pytest.mark.parametrize(
    "url", ["/accounts/connect/", "/api/v1/onboarding/create/", "/api/v1/onboarding/connect/credentials/"]
)
def test_an_invited_read_only_user_connects_no_account(a, invited_viewer, url):
    before = rows()
    if url.startswith("/api/"):
        response = api_as(invited_viewer).post(url, {"account_name": "Mine"}, format="json")
    else:
        response = signed_in(invited_viewer).post(url, {"method": "role", "account_name": "Mine"})
    assert response.status_code == 403
    assert rows() == before


# ======================================================================================================
# A member removed from team A
# ======================================================================================================


@pytest.fixture
def removed(a, make_account, make_instance, make_approval):
    """Team A's second client connected an account of their own to the team, then was removed from it."""
    account = make_account(a.cast.colleague, account_name="Colleague's sandbox")
    make_instance(account)
    make_approval(account=account, action_payload=PAYLOAD)
    assert account.team == a.cast.team
    teams.team_member_remove(user=a.cast.client, member=a.cast.colleague)
    person = reloaded(a.cast.colleague)
    assert person.team is None
    return person, account


@pytest.mark.parametrize("listing", LISTINGS, ids=LISTING_IDS)
def test_a_removed_member_lists_nothing(a, b, removed, listing):
    person, own_account = removed
    assert listing.everything(person) == []
    assert listing.mentions(person, a) == []
    assert listing.mentions(person, b) == []
    text = unescape((api_as(person) if listing.api else signed_in(person)).get(listing.url).content.decode())
    assert own_account.account_name not in text and own_account.account_id not in text


@pytest.mark.parametrize(("route", "kind"), DETAILS, ids=[route for route, _ in DETAILS])
def test_a_removed_member_opens_nothing_not_even_the_account_they_connected(a, removed, route, kind):
    person, own_account = removed
    own = {
        "account": own_account,
        "instance": own_account.instances.get(),
        "approval": own_account.approval_requests.get(),
    }
    for obj in (a.objects()[kind], own[kind]):
        assert get(person, detail_url(route, obj.pk)).status_code == 404
    assert reloaded(own_account).user == person  # still its owner, on record


def test_a_removed_member_is_no_approver_of_the_team(a, removed, django_capture_on_commit_callbacks, mailoutbox):
    person, own_account = removed
    for risk in (RiskLevel.LOW, RiskLevel.MEDIUM):
        assert decision_refusal(person, a.approvals[risk]) == "Clients decide requests on their own accounts only."
    with django_capture_on_commit_callbacks(execute=True):
        request = approval_request_create(action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, account=own_account)
    assert person not in approvers_for(request)
    assert person.email not in [address for mail in mailoutbox for address in mail.to]


# ======================================================================================================
# Deciding and being told
# ======================================================================================================


def decide_on_page(user, approval, verb):
    return signed_in(user).post(reverse(f"approval_{verb}", args=[approval.pk]), {"comment": "checked"})


def decide_by_api(user, approval, verb):
    return api_as(user).post(f"/api/v1/approvals/{approval.pk}/{verb}/", {"comment": "checked"}, format="json")


DECIDERS = {"page": decide_on_page, "api": decide_by_api}


@pytest.mark.parametrize("channel", list(DECIDERS))
@pytest.mark.parametrize("verb", ["approve", "reject"])
@pytest.mark.parametrize("risk", [RiskLevel.LOW, RiskLevel.MEDIUM])
@pytest.mark.parametrize("who", ["client", "colleague"])  # the colleague did not connect the account
def test_a_client_decides_low_and_medium_requests_on_the_teams_accounts(a, channel, verb, risk, who):
    user = getattr(a.cast, who)
    approval = a.approvals[risk]

    response = DECIDERS[channel](user, approval, verb)

    assert response.status_code in (200, 302), response.content[:300]
    approval = reloaded(approval)
    assert approval.status == (ApprovalStatus.APPROVED if verb == "approve" else ApprovalStatus.REJECTED)
    assert approval.approver == user


@pytest.mark.parametrize("channel", list(DECIDERS))
@pytest.mark.parametrize("risk", [RiskLevel.LOW, RiskLevel.MEDIUM])
def test_a_client_does_not_decide_another_teams_requests(a, b, channel, risk):
    response = DECIDERS[channel](a.cast.client, b.approvals[risk], "approve")
    assert response.status_code == 404
    assert reloaded(b.approvals[risk]).status == ApprovalStatus.PENDING


@pytest.mark.parametrize("channel", list(DECIDERS))
def test_a_client_does_not_decide_a_high_request_even_on_the_teams_account(a, channel):
    response = DECIDERS[channel](a.cast.client, a.approvals[RiskLevel.HIGH], "approve")
    assert response.status_code == 403
    assert "Clients decide requests up to MEDIUM risk; this one is HIGH." in unescape(response.content.decode())
    assert reloaded(a.approvals[RiskLevel.HIGH]).status == ApprovalStatus.PENDING


def test_a_lab_account_of_team_a_is_decided_by_its_clients_not_by_team_b(a, b, make_account):
    lab_account = make_account(a.cast.viewer, environment_type=EnvironmentType.LAB)  # a viewer connected it
    assert lab_account.team == a.cast.team
    request = approval_request_create(action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, account=lab_account)
    assert decision_refusal(a.cast.colleague, request) is None
    assert decision_refusal(b.cast.client, request) == "Clients decide requests on their own accounts only."


@pytest.mark.parametrize("risk", [RiskLevel.LOW, RiskLevel.MEDIUM])
def test_a_new_request_is_mailed_to_the_teams_clients_and_the_operators_only(
    a, b, make_user, django_capture_on_commit_callbacks, mailoutbox, risk
):
    admin = make_user(Role.ADMIN)
    super_admin = make_user(Role.SUPER_ADMIN)
    make_user(Role.LAB)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        request = approval_request_create(
            action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, risk_level=risk, account=a.account
        )

    expected = {a.cast.client.email, a.cast.colleague.email, admin.email, super_admin.email}
    assert {user.email for user in approvers_for(request)} == expected
    recipients = [address for mail in mailoutbox for address in mail.to]
    assert sorted(recipients) == sorted(expected)
    for outsider in (b.cast.client, b.cast.colleague, b.cast.viewer, a.cast.viewer):
        assert outsider.email not in recipients
