"""The API's contract, checked the same way on every list/detail endpoint of /api/v1/ (the shape of NetBox's
`APIViewTestCases`): a test module describes its endpoint once and inherits the standard checks.

    class TestInstancesContract(ApiContract):
        endpoint = Endpoint(
            list_url="/api/v1/instances/",
            make=contract_instance,  # (tenant, n) -> row n, one the tenant's people see
            models=(Instance,),  # what a refused call must leave as it was
            secrets=lambda instance: [instance.instance_id],  # what must never reach another tenant
            writers=frozenset({Role.LAB, Role.ADMIN, Role.SUPER_ADMIN}),  # the readers: every role
            write_refusal=LAB_CONTROLS_REFUSED,
            writes=(Call("partial_update", "patch", "{pk}/", LAB_CHANGE, ok=200, outsider=403),),
            not_allowed=(Call("destroy", "delete", "{pk}/"),),
        )

The tenant is a team made by conftest's `make_team` ("Acme": two clients, a read-only viewer, an account);
the outsider is a client of another team ("Globex"). What every endpoint is held to (each check is
parametrised over the endpoint's calls and roles):

- anonymous: every call is a 401 with the error body and a Bearer challenge, changes nothing, names nothing;
- an outsider: the row's detail and every action on it answer what an id that does not exist answers (a 404,
  or the role's 403 where the role is refused before the row is looked up), naming nothing of the row;
  the outsider's list holds none of the tenant's rows;
- a role outside a call's `roles` gets a 403 {"detail", "code"} (the call's `refusal`), changes nothing and
  sends no email; the roles inside see the row in the list and its detail, and get `ok` where it is set;
- the list holds what the reader's role may see (`sees`: customers their team's rows, lab users LAB rows,
  admins every tenant's) and nothing else of the rows made;
- an unknown or malformed id is a 404; the methods the endpoint does not offer are 405s;
- pagination: following `next` until it is null walks more than one page and returns every row once
  (nothing reads `count` or `page=`, so page numbers and cursors both pass);
- the list makes as many queries for 30 rows as for 1 (django.test.utils.CaptureQueriesContext);
- a JWT works with no CSRF token; a session's write needs one.

Errors are JSON {"detail", "code"} (validation errors add "errors"): `assert_error` checks that shape, also
for the modules' own tests.
"""

import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from rest_framework.test import APIClient

from accounts.choices import EnvironmentType, Role
from tests.conftest import TEST_PASSWORD, TeamCast

TOKEN = "/api/v1/auth/token/"
SCHEMA = "/api/schema/"
# Every role, in the order a check picks "a role that may" from a call's roles: the tenant's own people
# first, then the operators.
ALL_ROLES = (Role.CLIENT, Role.USER, Role.LAB, Role.ADMIN, Role.SUPER_ADMIN)
MANY = 30  # rows of the constant-queries check
EVERY_TENANT = frozenset({Role.ADMIN, Role.SUPER_ADMIN})
# The arguments ApiContract's checks are parametrised by (Endpoint.cases).
CASES = ("call", "detail_call", "refused", "reader", "ok_call", "not_allowed", "outsider", "list_reader", "list_query")


# --- requests and answers ----------------------------------------------------------------------------------


def environment_of(n: int) -> str:
    """The environment of an endpoint's row n (where its rows have one): even rows LAB, odd rows production."""
    return [EnvironmentType.LAB, EnvironmentType.PROD][n % 2]


def api_as(user=None, **kwargs) -> APIClient:
    """An API client signed in as `user` (force_authenticate), anonymous without one."""
    api = APIClient(**kwargs)
    if user is not None:
        api.force_authenticate(user)
    return api


def jwt_client(user) -> APIClient:
    """A client that sends `user`'s access token (obtained with TEST_PASSWORD) and enforces CSRF checks."""
    token = APIClient().post(TOKEN, {"username": user.username, "password": TEST_PASSWORD}, format="json")
    assert token.status_code == 200, token.content
    api = APIClient(enforce_csrf_checks=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.data['access']}")
    return api


def session_client(user) -> APIClient:
    """A client signed in by session (force_login) that enforces CSRF checks, as a browser's would be."""
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(user)
    return api


def result_ids(response) -> list[str]:
    """The ids of one page of a list, in its order."""
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.data["results"]]


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The API's error body: {"detail", "code"} (validation errors add "errors"), with that status."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) in ({"detail", "code"}, {"detail", "code", "errors"}), body
    assert body["detail"] and isinstance(body["detail"], str), body
    assert body["code"] and isinstance(body["code"], str), body
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_names_nothing(response, secrets: Iterable[str]) -> None:
    text = response.content.decode()
    named = [secret for secret in secrets if secret and secret in text]
    assert not named, f"the answer names {named}"


def assert_refused(response, status: int, secrets: Iterable[str], code: str | None = None) -> dict:
    """An error answer (assert_error) that names none of `secrets`."""
    body = assert_error(response, status, code)
    assert_names_nothing(response, secrets)
    return body


def walk_list(api, url: str) -> list:
    """Every page of a list, from `url` following `next` until it is null (any pagination style)."""
    pages, seen = [], set()
    while url:
        assert url not in seen, f"{url} links back to itself"
        seen.add(url)
        response = api.get(url)
        assert response.status_code == 200, response.content
        pages.append(response)
        url = response.data["next"]
    return pages


def walked_ids(pages) -> list[str]:
    return [row_id for page in pages for row_id in result_ids(page)]


def query_count(api, url: str):
    """(queries, response) of one GET of `url` (it must answer 200)."""
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(queries), response


def served_schema(user) -> dict:
    """The OpenAPI schema /api/schema/ serves to `user`."""
    response = api_as(user).get(SCHEMA)
    assert response.status_code == 200, response.content
    return yaml.safe_load(response.content)


def pagination_parameters(list_url: str) -> set[str]:
    """The query parameters the list's pagination documents in the schema (page numbers or cursors)."""
    view = resolve(list_url).func.cls
    return {parameter["name"] for parameter in view.pagination_class().get_schema_operation_parameters(view())}


def snapshot(models) -> tuple:
    """Every row of those models, for 'nothing changed' checks."""
    return tuple(list(model.objects.order_by("pk").values()) for model in models)


@contextmanager
def changes_nothing(models):
    """The block leaves every row of `models` as it was and sends no email."""
    before, sent = snapshot(models), len(getattr(mail, "outbox", []))
    yield
    assert snapshot(models) == before, "a refused request changed nothing"
    assert len(getattr(mail, "outbox", [])) == sent, "a refused request sent no email"


# --- describing an endpoint --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request an endpoint answers.

    path: "" is the list, "{pk}/" the detail, "{pk}/approve/" an action on it; one that starts with "/" is
    a path of its own ("/api/v1/onboarding/{pk}/verify/"). `data` is valid, so only who asks decides.
    roles: who may make it (on a row they see); None: the endpoint's readers (reads) or writers (writes).
    refusal: what the others are told with their 403 (None: the endpoint's read_refusal or write_refusal;
    both None: any message). ok: what a role that may is answered (None: not checked here, e.g. it needs
    AWS, or row 0 is not in a state for it), and `answer` fields of the body it gets then. outsider: what a
    client of another team gets.
    """

    name: str
    method: str
    path: str
    data: Any = None
    roles: frozenset | None = None
    refusal: str | None = None
    ok: int | None = None
    answer: dict | None = None
    outsider: int = 404

    @property
    def on_detail(self) -> bool:
        return "{pk}" in self.path

    @property
    def reads(self) -> bool:
        return self.method == "get"

    def url(self, list_url: str, pk=None) -> str:
        path = self.path if self.path.startswith("/") else list_url + self.path
        return path.format(pk=pk)

    def send(self, api, list_url: str, pk=None, **extra):
        return getattr(api, self.method)(self.url(list_url, pk), self.data, format="json", **extra)

    def assert_ok(self, response) -> None:
        """The answer of a role that may make the call: `ok`, with the `answer` fields."""
        assert response.status_code == self.ok, response.content
        if self.answer is not None:
            assert {name: response.json().get(name) for name in self.answer} == self.answer


@dataclass(frozen=True)
class Endpoint:
    """A list/detail endpoint and the rows it shows.

    make(tenant, n): one row the tenant's people see, numbered n (0, 1, …: vary the rows by it). Row 0 is the
    one the checks act on, so every role in `readers` sees it and every call can act on it; where rows belong
    to an account, row n's is of environment_of(n) (even LAB, odd production: what lab users see follows it).
    secrets(row): what names the row besides its id (names, emails, AWS ids): never told to an outsider.
    models: whose rows a refused call must leave as they were.
    """

    list_url: str
    make: Callable[["Tenant", int], Any]
    models: tuple
    secrets: Callable[[Any], Iterable[str]] = lambda row: ()
    readers: frozenset = frozenset(ALL_ROLES)
    read_refusal: str | None = None
    writers: frozenset = frozenset()
    write_refusal: str | None = None
    writes: tuple[Call, ...] = ()
    not_allowed: tuple[Call, ...] = ()  # answered 405
    list_queries: tuple[str, ...] = ("",)  # query strings the constant-queries check lists with
    max_list_queries: int | None = None
    list_readers: tuple = (Role.CLIENT, Role.ADMIN)  # who walks the list in the list checks (if readers)

    @property
    def calls(self) -> tuple[Call, ...]:
        reads = (
            Call("list", "get", "", roles=self.readers, refusal=self.read_refusal),
            Call("retrieve", "get", "{pk}/", roles=self.readers, refusal=self.read_refusal),
        )
        return reads + self.writes

    def roles_of(self, call: Call) -> frozenset:
        if call.roles is not None:
            return frozenset(call.roles)
        return self.readers if call.reads else self.writers

    def refusal_of(self, call: Call) -> str | None:
        if call.refusal is not None:
            return call.refusal
        return self.read_refusal if call.reads else self.write_refusal

    def first_role_of(self, call: Call):
        return next(role for role in ALL_ROLES if role in self.roles_of(call))

    @property
    def retrieve(self) -> Call:
        return self.calls[1]

    def first_ok_write(self) -> Call | None:
        return next((call for call in self.writes if call.ok is not None and not call.reads), None)

    def cases(self, argname: str) -> list:
        calls = self.calls
        detail_calls = [call for call in calls if call.on_detail]
        return {
            "call": [pytest.param(call, id=call.name) for call in calls],
            "detail_call": [pytest.param(call, id=call.name) for call in detail_calls],
            "refused": [
                pytest.param((role, call), id=f"{role}-{call.name}")
                for call in calls
                for role in ALL_ROLES
                if role not in self.roles_of(call)
            ],
            "reader": [pytest.param(role, id=role) for role in ALL_ROLES if role in self.readers],
            "ok_call": [pytest.param(call, id=call.name) for call in calls if call.ok is not None],
            "not_allowed": [pytest.param(call, id=call.name) for call in self.not_allowed],
            "outsider": ["client", "colleague"],
            "list_reader": [pytest.param(role, id=role) for role in self.list_readers if role in self.readers],
            "list_query": [pytest.param(query, id=query or "no-query") for query in self.list_queries],
        }[argname]

    def page_size(self) -> int:
        paginator = resolve(self.list_url).func.cls.pagination_class()
        return paginator.page_size or settings.REST_FRAMEWORK["PAGE_SIZE"]


@dataclass
class Tenant(TeamCast):
    """A team (conftest's TeamCast: team, client, colleague, viewer, account) and the test's fixtures, for
    the endpoints' factories: tenant.fixture("make_instance")(tenant.account_in(...), ...)."""

    fixture: Callable[[str], Any] = None
    _operators: dict = field(default_factory=dict)
    _accounts: dict = field(default_factory=dict)

    @classmethod
    def of(cls, cast: TeamCast, fixture) -> "Tenant":
        return cls(**{name.name: getattr(cast, name.name) for name in fields(TeamCast)}, fixture=fixture)

    def person(self, role):
        """Somebody of `role` who sees the tenant's rows if the role does: the tenant's client or viewer,
        or an operator (one per role and test)."""
        if role == Role.CLIENT:
            return self.client
        if role == Role.USER:
            return self.viewer
        if role not in self._operators:
            self._operators[role] = self.fixture("make_user")(role)
        return self._operators[role]

    def account_in(self, environment: str):
        """The team's account of that environment for the endpoints' rows (made on first use): the client's
        LAB account, the colleague's production one."""
        if environment not in self._accounts:
            owner = self.client if environment == EnvironmentType.LAB else self.colleague
            self._accounts[environment] = self.fixture("make_account")(
                owner, account_name=f"{self.team.name} {environment} account", environment_type=environment
            )
        return self._accounts[environment]

    def secrets(self) -> list[str]:
        return [self.team.name, str(self.team.pk)]


def sees(role, *, own: bool, n: int) -> bool:
    """Whether somebody of `role` in the tenant sees row n of the tenant (own) or of another one: customers
    their team's rows, lab users the LAB rows of every tenant, admins everything."""
    if role in EVERY_TENANT:
        return True
    if role == Role.LAB:
        return environment_of(n) == EnvironmentType.LAB
    return own


# --- the checks --------------------------------------------------------------------------------------------


class ApiContract:
    """Inherit with `endpoint = Endpoint(...)` in a `Test…` class: the checks below run for that endpoint."""

    endpoint: Endpoint

    def pytest_generate_tests(self, metafunc):
        for argname in metafunc.fixturenames:
            if argname in CASES:
                metafunc.parametrize(argname, self.endpoint.cases(argname))

    @pytest.fixture
    def tenant(self, make_team, request) -> Tenant:
        return Tenant.of(make_team("Acme"), request.getfixturevalue)

    @pytest.fixture
    def other_tenant(self, make_team, request) -> Tenant:
        return Tenant.of(make_team("Globex"), request.getfixturevalue)

    @pytest.fixture
    def row(self, tenant):
        return self.endpoint.make(tenant, 0)

    def secrets(self, tenant, row) -> list[str]:
        return [str(row.pk), *self.endpoint.secrets(row), *tenant.secrets()]

    def send(self, call, user, pk):
        return call.send(api_as(user), self.endpoint.list_url, pk)

    # --- who may call what

    def test_anonymous_is_a_401(self, tenant, row, call):
        with changes_nothing(self.endpoint.models):
            response = self.send(call, None, row.pk)
        assert_refused(response, 401, self.secrets(tenant, row), "not_authenticated")
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_an_outsider_is_answered_as_for_an_id_that_does_not_exist(
        self, tenant, row, other_tenant, outsider, detail_call
    ):
        who = getattr(other_tenant, outsider)
        with changes_nothing(self.endpoint.models):
            response = self.send(detail_call, who, row.pk)
            unknown = self.send(detail_call, who, uuid.uuid4())
        assert_refused(response, detail_call.outsider, self.secrets(tenant, row))
        assert (response.status_code, response.json()) == (unknown.status_code, unknown.json())

    def test_an_outsiders_list_holds_none_of_the_rows(self, tenant, row, other_tenant, outsider):
        self.endpoint.make(tenant, 1)
        api = api_as(getattr(other_tenant, outsider))
        for page in walk_list(api, self.endpoint.list_url):
            assert_names_nothing(page, self.secrets(tenant, row))

    def test_a_role_that_may_not_is_a_403(self, tenant, row, refused):
        role, call = refused
        who = tenant.person(role)
        with changes_nothing(self.endpoint.models):
            response = self.send(call, who, row.pk)
        body = assert_refused(response, 403, self.secrets(tenant, row), "permission_denied")
        refusal = self.endpoint.refusal_of(call)
        if refusal is not None:
            assert body["detail"] == refusal

    def test_the_list_is_scoped_to_what_the_role_may_see(self, tenant, other_tenant, reader):
        api = api_as(tenant.person(reader))
        before = set(walked_ids(walk_list(api, self.endpoint.list_url)))
        made = {
            (own, n): self.endpoint.make(owner, n)
            for own, owner in ((True, tenant), (False, other_tenant))
            for n in (0, 1)
        }
        expected = {str(row.pk) for (own, n), row in made.items() if sees(reader, own=own, n=n)}
        assert set(walked_ids(walk_list(api, self.endpoint.list_url))) == before | expected

    def test_a_reader_sees_the_row(self, tenant, row, reader):
        who = tenant.person(reader)
        with changes_nothing(self.endpoint.models):
            listed = walked_ids(walk_list(api_as(who), self.endpoint.list_url))
            detail = self.send(self.endpoint.retrieve, who, row.pk)
        assert str(row.pk) in listed
        assert detail.status_code == 200, detail.content
        assert detail.json()["id"] == str(row.pk)

    def test_a_role_that_may_is_answered_ok(self, tenant, row, ok_call):
        ok_call.assert_ok(self.send(ok_call, tenant.person(self.endpoint.first_role_of(ok_call)), row.pk))

    def test_an_unknown_id_is_a_404(self, tenant, row, detail_call):
        who = tenant.person(self.endpoint.first_role_of(detail_call))
        with changes_nothing(self.endpoint.models):
            assert_error(self.send(detail_call, who, uuid.uuid4()), 404, "not_found")
            assert_error(self.send(detail_call, who, "not-a-uuid"), 404, "not_found")

    def test_a_method_not_offered_is_a_405(self, tenant, row, not_allowed):
        who = tenant.person(self.endpoint.first_role_of(not_allowed))
        with changes_nothing(self.endpoint.models):
            assert_error(self.send(not_allowed, who, row.pk), 405, "method_not_allowed")

    # --- the list

    def test_following_next_returns_every_row_once(self, tenant, list_reader):
        api = api_as(tenant.person(list_reader))
        page_size = self.endpoint.page_size()
        before = set(walked_ids(walk_list(api, self.endpoint.list_url)))
        made = {str(self.endpoint.make(tenant, n).pk) for n in range(page_size + 1)}

        pages = walk_list(api, self.endpoint.list_url)

        ids = walked_ids(pages)
        assert len(ids) == len(set(ids)), "a row came twice"
        assert set(ids) == before | made
        assert len(pages) > 1
        assert all(len(page.data["results"]) <= page_size for page in pages)
        assert pages[0].data["previous"] is None

    def test_the_list_makes_as_many_queries_for_many_rows_as_for_one(self, tenant, list_reader, list_query):
        api = api_as(tenant.person(list_reader))
        url = self.endpoint.list_url + list_query
        self.endpoint.make(tenant, 0)
        few, first = query_count(api, url)
        for n in range(1, MANY):
            self.endpoint.make(tenant, n)
        many, second = query_count(api, url)
        assert first.data["results"], "the list shows a row"
        assert len(second.data["results"]) > len(first.data["results"])
        assert many == few
        if self.endpoint.max_list_queries is not None:
            assert few <= self.endpoint.max_list_queries

    # --- authentication

    def test_a_jwt_needs_no_csrf_token_and_a_bad_one_is_a_401(self, tenant, row):
        reader = tenant.person(self.endpoint.first_role_of(self.endpoint.calls[0]))
        assert str(row.pk) in walked_ids(walk_list(jwt_client(reader), self.endpoint.list_url))
        call = self.endpoint.first_ok_write()
        if call is not None:
            api = jwt_client(tenant.person(self.endpoint.first_role_of(call)))
            call.assert_ok(call.send(api, self.endpoint.list_url, row.pk))
        bad = APIClient()
        bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        response = bad.get(self.endpoint.list_url)
        assert_error(response, 401, "token_not_valid")
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_a_session_write_needs_the_csrf_token(self, tenant, row):
        writes = [call for call in self.endpoint.writes if not call.reads]
        for call in writes:
            api = session_client(tenant.person(self.endpoint.first_role_of(call)))
            with changes_nothing(self.endpoint.models):
                response = call.send(api, self.endpoint.list_url, row.pk)
            assert "CSRF" in assert_error(response, 403, "permission_denied")["detail"]
        # The browsable API hands out the CSRF cookie; with its token the write works.
        call = self.endpoint.first_ok_write()
        if call is not None:
            api = session_client(tenant.person(self.endpoint.first_role_of(call)))
            page = api.get(self.endpoint.list_url, HTTP_ACCEPT="text/html")
            assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
            token = api.cookies["csrftoken"].value
            call.assert_ok(call.send(api, self.endpoint.list_url, row.pk, HTTP_X_CSRFTOKEN=token))
