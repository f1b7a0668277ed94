"""Shared fixtures of the risk tests: the connected account and the Spot instance AWS's documented
sample events name (tests/risk/fixtures)."""

import json
from pathlib import Path

import pytest

from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT

FIXTURES = Path(__file__).parent / "fixtures"
INTERRUPTION = (FIXTURES / "spot-interruption-warning.json").read_bytes()
REBALANCE = (FIXTURES / "rebalance-recommendation.json").read_bytes()
SAMPLE_INSTANCE = "i-1234567890abcdef0"
SAMPLE_REGION = "us-east-2"


@pytest.fixture
def sample_account(make_user, make_account):
    """The account AWS's samples name (123456789012, moto's own), production, connected by a role, scanning
    us-east-2, owned by a client."""
    return make_account(
        make_user(),
        account_id=MOTO_DEFAULT_ACCOUNT,
        role_arn=f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/SpotOptimizerRole",
        regions=[SAMPLE_REGION],
    )


@pytest.fixture
def sample_instance(sample_account, make_instance):
    """The samples' Spot instance, discovered: c5.xlarge in us-east-2b."""
    return make_instance(
        sample_account,
        instance_id=SAMPLE_INSTANCE,
        region=SAMPLE_REGION,
        availability_zone="us-east-2b",
        instance_type="c5.xlarge",
        lifecycle="spot",
    )


def put_sample(events, sample: bytes) -> None:
    """What AWS does with a sample: PutEvents of its Source, DetailType, Detail and Resources (EventBridge
    adds the rest of the envelope)."""
    event = json.loads(sample)
    answer = events.put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
