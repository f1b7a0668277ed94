"""FastRepresentation (spotopt.serializers) answers exactly what DRF's own to_representation answers, for
every field kind the API's list serializers use: NULLs, decimals, datetimes with and without microseconds,
choices, JSON, nested and related objects, methods and context-dependent fields."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import RequestFactory
from rest_framework import serializers

from accounts.choices import AccountStatus, Role
from approvals.serializers import ApprovalRequestSerializer
from fleet.selectors import instances_for
from fleet.serializers import InstanceSerializer

pytestmark = pytest.mark.django_db


def drf(serializer, instance):
    """What DRF itself would answer: its Serializer.to_representation, the fast path's parents skipped."""
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.fixture
def instances(client_user, make_account, make_instance):
    account = make_account(client_user)
    pending = make_account(
        client_user, account_id="pending-00000000-0000-0000-0000-000000000009", status=AccountStatus.PENDING
    )
    original = make_instance(account, hourly_price=Decimal("0.1"), price_source="on_demand_list")
    make_instance(
        account,
        is_replica=True,
        replica_of=original,
        replica_expiry=datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC),  # no microseconds
        last_evaluation=datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC),
        flagged_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC) + timedelta(microseconds=1),
        instance_metadata={"name": "n", "tags": {"Name": "n"}, "nested": {"a": [1, 2]}},
        cluster_membership={"cluster_name": "prod"},
        hourly_price=None,
        price_source="unknown",
    )
    make_instance(pending, lifecycle="spot", instance_metadata={"spot_price": "0.0312"})
    return list(instances_for(client_user))


def test_instances_are_represented_as_drf_would(instances):
    serializer = InstanceSerializer()
    for instance in instances:
        assert serializer.to_representation(instance) == drf(serializer, instance)
    assert {row["account"]["aws_account_id"] for row in InstanceSerializer(instances, many=True).data} >= {None}


def test_context_dependent_fields_see_the_request_of_each_list(make_user, make_account, make_approval):
    owner = make_user(Role.CLIENT)
    account = make_account(owner)
    approval = make_approval(account=account, risk_level="LOW", action_payload={"instance_id": "i-0123456789abcdef0"})
    admin, colleague = make_user(Role.ADMIN), make_user(Role.USER, team=owner.team)
    for user, may_decide in ((admin, True), (colleague, False), (admin, True)):
        request = RequestFactory().get("/")
        request.user = user
        serializer = ApprovalRequestSerializer(context={"request": request})
        fast = serializer.to_representation(approval)
        assert fast == drf(serializer, approval)
        assert fast["can_decide"] is may_decide  # not the answer for whoever asked first
