"""Fixtures of the fleet tests that several modules share: moto's instance-type catalog of us-east-1, as the
daily refresh writes it, and the account it is read with."""

import pytest

from fleet.catalog import instance_type_catalog_refresh
from fleet.models import InstanceTypeFacts, InstanceTypeOffering
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT

REGION = "us-east-1"
_CATALOG: dict[str, list[dict]] = {}


@pytest.fixture
def catalog_account(make_user, make_account):
    return make_account(
        make_user(),
        account_id=MOTO_DEFAULT_ACCOUNT,
        role_arn=f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/SpotOptimizerRole",
        regions=[REGION],
    )


@pytest.fixture
def catalog(catalog_account, moto):
    """us-east-1's catalog as the refresh writes it from moto (read once per test process)."""
    if not _CATALOG:
        instance_type_catalog_refresh(account=catalog_account, region=REGION)
        _CATALOG["facts"] = list(InstanceTypeFacts.objects.values())
        _CATALOG["offerings"] = list(InstanceTypeOffering.objects.values())
    else:
        InstanceTypeFacts.objects.bulk_create([InstanceTypeFacts(**row) for row in _CATALOG["facts"]])
        InstanceTypeOffering.objects.bulk_create([InstanceTypeOffering(**row) for row in _CATALOG["offerings"]])
    return _CATALOG
