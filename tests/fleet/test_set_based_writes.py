"""The fleet's background writes grow linearly: set-based statements whose number does not grow with the
instances (rogue enforcement), batched updates (spotopt.db.bulk_update_values), the ids a discovery saw kept
in the database (spotopt.db.temporary_id_set), and the authorizing rules as one database condition that
agrees with the Python rule everywhere."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import Role
from approvals.choices import ActionType
from approvals.models import ApprovalRequest
from fleet import services as fleet_services
from fleet.choices import AuthStatus
from fleet.inventory import authorized_condition, is_authorized
from fleet.models import Instance
from fleet.services import rogue_enforce
from spotopt import db

pytestmark = pytest.mark.django_db

TAG_SETS = [
    {},
    {"Name": "x"},
    {"ManagedBy": "SpotOptimizer"},
    {"ManagedBy": "someone-else"},
    {"ManagedBy": ""},
    {"aws:autoscaling:groupName": "web"},
    {"aws:autoscaling:groupName": ""},
    {"eks:cluster-name": "prod", "Name": "n"},
    {"managedby": "SpotOptimizer"},
]


@pytest.mark.parametrize("rules", [None, ["Owner"], ["Team=web", "Owner"], []], ids=["default", "key", "mixed", "none"])
def test_the_database_condition_agrees_with_the_python_rule(settings, client_user, make_account, make_instance, rules):
    if rules is not None:
        settings.FLEET_AUTHORIZING_TAGS = rules
    account = make_account(client_user)
    tag_sets = [*TAG_SETS, {"Owner": "x"}, {"Team": "web"}, {"Team": "db", "Owner": ""}]
    rows = {make_instance(account, instance_metadata={"tags": tags}).pk: tags for tags in tag_sets}
    matched = set(Instance.objects.filter(account=account).filter(authorized_condition()).values_list("pk", flat=True))
    unmatched = set(
        Instance.objects.filter(account=account).exclude(authorized_condition()).values_list("pk", flat=True)
    )
    assert matched == {pk for pk, tags in rows.items() if is_authorized(tags)}
    assert unmatched == set(rows) - matched  # the negation misses nobody (a missing key is not NULL-lost)


def _estate(make_account, make_instance, user, count):
    account = make_account(user)
    for n in range(count):
        tags = {} if n % 3 == 0 else {"ManagedBy": "SpotOptimizer"}
        make_instance(account, instance_metadata={"tags": tags}, auth_status=AuthStatus.UNAUTHORIZED)
    return account


def _enforcement_queries(account, **kwargs) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        rogue_enforce(account=account, **kwargs)
    return [query["sql"] for query in queries.captured_queries]


def test_rogue_enforcement_runs_the_same_statements_for_ten_or_three_hundred_instances(
    client_user, make_account, make_instance
):
    small = _enforcement_queries(_estate(make_account, make_instance, client_user, 10))
    large = _enforcement_queries(_estate(make_account, make_instance, client_user, 300))
    assert len(small) == len(large)
    assert sum(sql.startswith("UPDATE") for sql in large) == 3  # re-authorize (rogue, unauthorized), flag
    assert Instance.objects.filter(auth_status=AuthStatus.FLAGGED).count() == 4 + 100


def test_overdue_rogue_instances_are_filed_a_batch_at_a_time_with_one_email_each(
    client_user, make_account, make_instance, make_user, monkeypatch, clock, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(fleet_services, "ROGUE_FILING_BATCH", 4)
    admin = make_user(Role.ADMIN)
    account = _estate(make_account, make_instance, client_user, 27)  # 9 rogue
    rogue_enforce(account=account, now=clock.now)
    later = clock.now + timedelta(hours=30)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        queries = _enforcement_queries(account, now=later)
    inserts = [sql for sql in queries if sql.startswith('INSERT INTO "approvals_approvalrequest"')]
    assert len(inserts) == 3  # 4 + 4 + 1
    requests = ApprovalRequest.objects.filter(action_type=ActionType.TERMINATE_ROGUE)
    assert requests.count() == 9
    assert {r.instance_ref for r in requests} == set(
        Instance.objects.filter(auth_status=AuthStatus.FLAGGED).values_list("instance_id", flat=True)
    )
    assert all(r.aws_account_ref == account.account_id for r in requests)
    # Each batch: one email per approver (the admin; a client does not decide HIGH), not one per request.
    assert [message.to for message in mail.outbox] == [[admin.email]] * 3
    assert "4 x Terminate rogue instance" in mail.outbox[0].subject
    # Filed once: another pass files nothing.
    assert rogue_enforce(account=account, now=later + timedelta(hours=1)) == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_filing_holds_nothing_open_across_batches(client_user, make_account, make_instance, monkeypatch, clock):
    """Each batch is its own query: a connection closed between batches (django-q's ORM broker closes it
    when a batch queues its digest outside a transaction) loses nothing. A server-side cursor would die."""
    from approvals import services as approval_services

    monkeypatch.setattr(fleet_services, "ROGUE_FILING_BATCH", 2)
    real_create = approval_services.approval_requests_create

    def create_then_close(**kwargs):
        created = real_create(**kwargs)
        connection.close()
        return created

    monkeypatch.setattr(approval_services, "approval_requests_create", create_then_close)
    account = _estate(make_account, make_instance, client_user, 15)  # 5 rogue
    rogue_enforce(account=account, now=clock.now)
    assert rogue_enforce(account=account, now=clock.now + timedelta(hours=30)) == (0, 0, 5)
    assert ApprovalRequest.objects.filter(action_type=ActionType.TERMINATE_ROGUE).count() == 5


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_bulk_update_values_writes_exactly_the_given_fields_of_the_given_rows(
    client_user, make_account, make_instance, monkeypatch, batch
):
    monkeypatch.setattr(db, "UPDATE_BATCH", batch)
    monkeypatch.setattr(db, "SQLITE_UPDATE_BATCH", batch)
    account = make_account(client_user)
    rows = [make_instance(account, instance_type="m5.large", region="us-east-1") for _ in range(7)]
    untouched = make_instance(account, instance_type="m5.large")
    for n, row in enumerate(rows):
        row.instance_type = f"c5.{n}xlarge"
        row.cluster_membership = {"asg_name": f"asg-{n}"}
        row.region = "ignored"  # not among the fields written
    with CaptureQueriesContext(connection) as queries:
        assert db.bulk_update_values(Instance, rows, ["instance_type", "cluster_membership"]) == 7
    assert len([q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]) == -(-7 // batch)
    for n, row in enumerate(rows):
        row.refresh_from_db()
        assert (row.instance_type, row.cluster_membership, row.region) == (
            f"c5.{n}xlarge",
            {"asg_name": f"asg-{n}"},
            "us-east-1",
        )
    untouched.refresh_from_db()
    assert untouched.instance_type == "m5.large"
    assert db.bulk_update_values(Instance, [], ["instance_type"]) == 0


def test_an_id_set_remembers_ids_in_the_database_and_finds_the_rest(client_user, make_account, make_instance):
    account = make_account(client_user)
    instances = [make_instance(account) for _ in range(5)]
    with db.temporary_id_set() as seen:
        seen.add([instances[0].instance_id, instances[1].instance_id])
        seen.add([instances[1].instance_id, instances[2].instance_id])  # again: no error, no double
        rest = seen.unseen(Instance.objects.filter(account=account), "instance_id")
        assert set(rest.values_list("instance_id", flat=True)) == {i.instance_id for i in instances[3:]}
    table = seen.table
    assert table not in connection.introspection.table_names()
