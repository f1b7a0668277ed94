"""Rows of the risk app for the API and page tests (the ingest tests make theirs through the real ingest)."""

import uuid
from datetime import timedelta

from django.utils import timezone

from risk.choices import EventOutcome, IngestChannel, RejectReason, RiskEventType
from risk.models import POISON_DURATION, GlobalRiskEvent, HeldRiskEvent, RejectedIngest, SpotPoolRisk


def make_event(account, n: int = 0, **fields) -> GlobalRiskEvent:
    reported = timezone.now() - timedelta(minutes=n)
    values = {
        "event_id": str(uuid.uuid4()),
        "event_type": RiskEventType.TERMINATION_NOTICE if n % 2 == 0 else RiskEventType.REBALANCE_NOTICE,
        "region": "us-east-1",
        "availability_zone": "us-east-1a",
        "instance_type": f"m5.{['large', 'xlarge', '2xlarge'][n % 3]}",
        "instance_id": f"i-{n:017x}",
        "account": account,
        "reported_at": reported,
        "received_at": reported,
        "channel": IngestChannel.SQS if n % 2 == 0 else IngestChannel.WEBHOOK,
        "outcome": EventOutcome.POISONED if n % 2 == 0 else EventOutcome.COUNTED,
        "instance_action": "terminate" if n % 2 == 0 else "",
    } | fields
    return GlobalRiskEvent.objects.create(**values)


def make_held(account, n: int = 0) -> HeldRiskEvent:
    event = make_event(account, n, event_type=RiskEventType.TERMINATION_NOTICE, outcome=EventOutcome.HELD)
    return HeldRiskEvent.objects.create(event=event, account=account)


def make_rejected(account, n: int = 0) -> RejectedIngest:
    return RejectedIngest.objects.create(
        channel=IngestChannel.WEBHOOK,
        reason=RejectReason.MALFORMED,
        message="The body is not JSON.",
        account=account,
        aws_account_id=account.account_id,
        raw_body="{not json",
        received_at=timezone.now() - timedelta(minutes=n),
    )


def make_pool(n: int = 0, *, poisoned: bool = True, **fields) -> SpotPoolRisk:
    now = timezone.now()
    values = {
        "region": "eu-west-1",
        "availability_zone": "eu-west-1" + "abc"[n % 3],
        "instance_type": f"c5.{n}xlarge" if n else "c5.large",
        "interruption_count": n + 1,
        "last_interruption": now - timedelta(hours=n),
    }
    if poisoned:
        values |= {
            "is_poisoned": True,
            "poisoned_at": now - timedelta(hours=n),
            "poison_expires_at": now - timedelta(hours=n) + POISON_DURATION,
        }
    return SpotPoolRisk.objects.create(**(values | fields))
