"""Reading EventBridge's EC2 interruption events: the exact JSON AWS sends (source `aws.ec2`).

Two detail-types matter: "EC2 Spot Instance Interruption Warning" (detail: instance-id, instance-action)
and "EC2 Instance Rebalance Recommendation" (detail: instance-id). Anything else is refused with a reason
(`EventRejected`), never an exception that could stop the listener or the webhook.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .choices import RejectReason, RiskEventType

DETAIL_TYPES = {
    "EC2 Spot Instance Interruption Warning": RiskEventType.TERMINATION_NOTICE,
    "EC2 Instance Rebalance Recommendation": RiskEventType.REBALANCE_NOTICE,
}
# EventBridge refuses events over 256 KB; a body larger than that is not an event.
MAX_EVENT_BYTES = 256 * 1024
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,32}$")
AWS_ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# The interruption warning's ARN names the zone: arn:aws:ec2:us-east-2a:instance/i-… (AWS documents it).
ZONE_IN_ARN = re.compile(r"^arn:aws[a-z-]*:ec2:([a-z]{2}(?:-[a-z]+)+-\d[a-z]):instance/")


class EventRejected(Exception):
    def __init__(self, reason: str, message: str, *, aws_account_id: str = "", event_id: str = ""):
        super().__init__(message)
        self.reason, self.message = reason, message
        self.aws_account_id, self.event_id = aws_account_id, event_id


@dataclass(frozen=True)
class InterruptionEvent:
    event_id: str
    event_type: str  # RiskEventType
    aws_account_id: str
    region: str
    instance_id: str
    instance_action: str
    reported_at: datetime
    zone_hint: str  # from the ARN when AWS put it there; the inventory decides
    raw: dict


def decode_body(body) -> object:
    """The JSON of a message or request body (bytes, str or already parsed)."""
    if isinstance(body, (dict, list)):
        return body
    if isinstance(body, bytes):
        if len(body) > MAX_EVENT_BYTES * 100:  # a batch is at most 100 events
            raise EventRejected(RejectReason.TOO_LARGE, "The body is larger than a batch of EventBridge events.")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise EventRejected(RejectReason.MALFORMED, "The body is not UTF-8 text.") from None
    try:
        return json.loads(body)
    except (TypeError, ValueError) as exc:
        raise EventRejected(RejectReason.MALFORMED, f"The body is not JSON ({exc}).") from None


def _text(event: dict, key: str, *, limit: int = 256) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise EventRejected(RejectReason.MALFORMED, f'The event has no usable "{key}".')
    return value


def _reported_at(value, received_at: datetime) -> datetime:
    # AWS's documented samples carry the placeholder "yyyy-mm-ddThh:mm:ssZ": an unreadable time is the
    # moment we received the event (EventBridge delivers within seconds), not a reason to drop a warning.
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return received_at
        if parsed.tzinfo is not None:
            return parsed
    return received_at


def parse_event(event, *, received_at: datetime | None = None, account_if_absent: str = "") -> InterruptionEvent:
    """One EventBridge event (a dict) as an InterruptionEvent, or EventRejected with the reason.

    `account_if_absent`: the AWS account to read when the event has no "account" field at all (a queue's
    owner: only its own rules may send to it; moto's EventBridge leaves the field out, AWS always sets it).
    A present but different or malformed field is never replaced."""
    received_at = received_at or timezone.now()
    if not isinstance(event, dict):
        raise EventRejected(RejectReason.MALFORMED, "An event must be a JSON object.")
    event_id = event.get("id") if isinstance(event.get("id"), str) else ""
    aws_account_id = event.get("account") if isinstance(event.get("account"), str) else ""
    if "account" not in event and account_if_absent:
        aws_account_id = account_if_absent
    try:
        if len(json.dumps(event)) > MAX_EVENT_BYTES:
            raise EventRejected(RejectReason.TOO_LARGE, "The event is larger than EventBridge allows (256 KB).")
        _text(event, "id", limit=128)
        if event.get("source") != "aws.ec2":
            raise EventRejected(RejectReason.UNKNOWN_TYPE, f"Source {str(event.get('source'))[:64]!r} is not aws.ec2.")
        detail_type = event.get("detail-type")
        if detail_type not in DETAIL_TYPES:
            raise EventRejected(
                RejectReason.UNKNOWN_TYPE,
                f"Detail-type {str(detail_type)[:80]!r} is neither an interruption warning nor a rebalance "
                "recommendation.",
            )
        if not AWS_ACCOUNT_ID.match(aws_account_id):
            raise EventRejected(RejectReason.MALFORMED, 'The event\'s "account" is not a 12-digit AWS account id.')
        region = _text(event, "region", limit=32)
        if not REGION.match(region):
            raise EventRejected(RejectReason.MALFORMED, f"{region[:32]!r} is not an AWS region.")
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise EventRejected(RejectReason.MALFORMED, 'The event has no "detail" object.')
        instance_id = detail.get("instance-id")
        if not isinstance(instance_id, str) or not INSTANCE_ID.match(instance_id):
            raise EventRejected(RejectReason.MALFORMED, 'The event\'s detail has no valid "instance-id".')
        action = detail.get("instance-action", "")
        action = action[:32] if isinstance(action, str) else ""
    except EventRejected as rejected:
        rejected.aws_account_id, rejected.event_id = aws_account_id[:64], event_id[:128]
        raise
    zone_hint = ""
    for resource in event.get("resources") or []:
        match = ZONE_IN_ARN.match(resource) if isinstance(resource, str) else None
        if match and match.group(1).startswith(region):
            zone_hint = match.group(1)
    return InterruptionEvent(
        event_id=event_id,
        event_type=DETAIL_TYPES[detail_type],
        aws_account_id=aws_account_id,
        region=region,
        instance_id=instance_id,
        instance_action=action,
        reported_at=_reported_at(event.get("time"), received_at),
        zone_hint=zone_hint,
        raw=event,
    )
