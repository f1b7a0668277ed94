"""Database rules of waste.WasteResource and its status transitions."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from spotopt.errors import TransitionNotAllowed
from tests.helpers import assert_update_rejected
from waste.choices import ResourceType, WasteStatus
from waste.models import WasteResource


@pytest.fixture
def account(client_user, make_account):
    return make_account(client_user)


@pytest.fixture
def make_waste(db):
    def make(account, **overrides):
        fields = {
            "resource_type": ResourceType.EBS_VOLUME,
            "resource_id": "vol-0123456789abcdef0",
            "region": "us-east-1",
            "monthly_cost": Decimal("8.0000"),
        }
        fields.update(overrides)
        return WasteResource.objects.create(account=account, **fields)

    return make


def test_duplicate_waste_resource_is_rejected(account, make_waste):
    make_waste(account)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_waste(account)
    assert WasteResource.objects.filter(resource_id="vol-0123456789abcdef0").count() == 1


def test_same_resource_id_elsewhere_is_not_a_duplicate(account, other_client, make_account, make_waste):
    make_waste(account)
    make_waste(account, region="eu-west-1")
    make_waste(account, resource_type=ResourceType.EBS_SNAPSHOT)
    make_waste(make_account(other_client))
    assert WasteResource.objects.filter(resource_id="vol-0123456789abcdef0").count() == 4


def test_negative_monthly_cost_is_rejected_by_the_database(account, make_waste):
    waste = make_waste(account)
    assert_update_rejected(
        WasteResource.objects.filter(pk=waste.pk), "waste_monthly_cost_non_negative", monthly_cost=Decimal("-0.01")
    )
    waste.refresh_from_db()
    assert waste.monthly_cost == Decimal("8.0000")


def test_negative_monthly_cost_is_rejected_on_insert(account, make_waste):
    with pytest.raises(IntegrityError, match="waste_monthly_cost_non_negative"), transaction.atomic():
        make_waste(account, monthly_cost=Decimal("-3"))
    assert not WasteResource.objects.exists()


def test_zero_monthly_cost_is_accepted_and_money_is_decimal(account, make_waste):
    waste = make_waste(account, monthly_cost=Decimal("0"))
    WasteResource.objects.filter(pk=waste.pk).update(monthly_cost=Decimal("3.6500"))
    waste.refresh_from_db()
    assert waste.monthly_cost == Decimal("3.6500")
    assert isinstance(waste.monthly_cost, Decimal)


@pytest.mark.parametrize(
    ("field", "constraint"),
    [("resource_type", "waste_resource_type_valid"), ("status", "waste_status_valid")],
)
def test_invalid_enum_values_are_rejected_by_the_database(account, make_waste, field, constraint):
    waste = make_waste(account)
    assert_update_rejected(WasteResource.objects.filter(pk=waste.pk), constraint, **{field: "bogus"})


def test_waste_is_deleted_with_its_account(account, make_waste):
    waste = make_waste(account)
    account.delete()
    assert not WasteResource.objects.filter(pk=waste.pk).exists()


def test_waste_cannot_be_deleted_without_being_scheduled_first(account, make_waste):
    waste = make_waste(account)
    with pytest.raises(TransitionNotAllowed, match="from DETECTED to DELETED"):
        waste.move_to(WasteStatus.DELETED)
    for status in (WasteStatus.FLAGGED, WasteStatus.SCHEDULED_DELETE, WasteStatus.DELETED):
        waste.move_to(status)
        waste.save()
    waste.refresh_from_db()
    assert waste.status == WasteStatus.DELETED
