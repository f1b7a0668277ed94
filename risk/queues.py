"""The interruption-event queues in customers' accounts: one SQS queue per region, fed by EventBridge rules.

`event_queue_setup` creates (or brings back in line) in each region, acting in the customer's account:
the SQS queue settings.RISK_EVENT_QUEUE_NAME (SSE-SQS, messages kept 5 minutes), a queue policy that lets
events.amazonaws.com send only on behalf of our rules, and the two EventBridge rules (source aws.ec2, the
Spot interruption warning and the rebalance recommendation) targeting the queue. Running it again changes
nothing. The names and settings are the CloudFormation stack's (accounts.cloudformation), so a region with
a stack and one set up here look the same to the listener (risk.listener), which finds them with
`event_queue_url`.
"""

import json
import logging
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from django.conf import settings

from accounts.cloudformation import (
    EVENT_QUEUE_RETENTION_SECONDS,
    EVENT_QUEUE_TARGET_ID,
    EVENT_RULES,
    event_pattern,
    event_queue_policy,
)
from spotopt.aws import AwsError, aws_errors, client_for, explain_aws_error
from spotopt.errors import DomainError

logger = logging.getLogger(__name__)

# Every IAM action event_queue_setup uses (on the queue and the spotopt-* rules), for the refusal message and
# the command's help. The listener itself needs only sqs:GetQueueUrl, GetQueueAttributes, ReceiveMessage
# and DeleteMessage.
SETUP_IAM_ACTIONS = (
    "sqs:GetQueueUrl",
    "sqs:CreateQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "events:PutRule",
    "events:PutTargets",
)
LISTENER_IAM_ACTIONS = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage")

_QUEUE_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}


class EventQueueSetupRefused(DomainError):
    code = "event_queue_access_denied"


@dataclass
class RegionSetup:
    """What event_queue_setup did in one region."""

    queue_url: str
    queue_arn: str
    queue_created: bool
    rule_arns: dict[str, str] = field(default_factory=dict)  # rule name -> ARN

    def as_dict(self) -> dict:
        return {
            "queue_url": self.queue_url,
            "queue_arn": self.queue_arn,
            "queue_created": self.queue_created,
            "rules": dict(self.rule_arns),
        }


def queue_name() -> str:
    return settings.RISK_EVENT_QUEUE_NAME


def needed_permissions_text() -> str:
    return ", ".join(SETUP_IAM_ACTIONS)


def _is_missing_queue(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") in _QUEUE_MISSING or error.get("QueryErrorCode") == "QueueDoesNotExist"


def is_access_denied(exc: ClientError) -> bool:
    """AccessDenied by its code, or a 403 whose body says so (SQS's query-protocol answer read as JSON)."""
    error = exc.response.get("Error", {})
    if error.get("Code") in _DENIED or error.get("QueryErrorCode") in _DENIED:
        return True
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 403 and "AccessDenied" in str(error.get("Message", ""))


def _queue_attributes() -> dict[str, str]:
    return {"MessageRetentionPeriod": str(EVENT_QUEUE_RETENTION_SECONDS), "SqsManagedSseEnabled": "true"}


def event_queue_url(*, account, region: str, client=None) -> str | None:
    """The URL of the account's interruption-event queue in `region`, None when there is none (GetQueueUrl).
    Other AWS failures raise the explained DomainError of spotopt.aws."""
    sqs = client or client_for(account, "sqs", region)
    try:
        return sqs.get_queue_url(QueueName=queue_name())["QueueUrl"]
    except ClientError as exc:
        if _is_missing_queue(exc):
            return None
        doing = f"find the interruption-event queue in {region}"
        if is_access_denied(exc):
            raise AwsError(
                f"AWS denied GetQueueUrl while trying to {doing} (AccessDenied).", code="aws_access_denied"
            ) from None
        raise explain_aws_error(exc, doing=doing) from None


def _setup_region(account, region: str) -> RegionSetup:
    sqs = client_for(account, "sqs", region)
    events = client_for(account, "events", region)
    name = queue_name()
    url = event_queue_url(account=account, region=region, client=sqs)
    created = url is None
    if created:
        # CreateQueue with the attributes only on a new queue: for an existing one with other settings it
        # answers QueueNameExists.
        url = sqs.create_queue(QueueName=name, Attributes=_queue_attributes())["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arns = {}
    for rule_name, detail_type in EVENT_RULES.items():
        rule_arns[rule_name] = events.put_rule(
            Name=rule_name,
            EventPattern=json.dumps(event_pattern(detail_type)),
            State="ENABLED",
            Description=f"Spot Optimizer: deliver '{detail_type}' events to its SQS queue.",
        )["RuleArn"]
        answer = events.put_targets(Rule=rule_name, Targets=[{"Id": EVENT_QUEUE_TARGET_ID, "Arn": queue_arn}])
        if answer.get("FailedEntryCount"):
            failed = answer["FailedEntries"][0]
            raise DomainError(
                f"EventBridge did not accept the queue as the target of rule {rule_name} in {region} "
                f"({failed.get('ErrorCode')}: {failed.get('ErrorMessage')})."
            )
    policy = event_queue_policy(queue_arn=queue_arn, rule_arns=list(rule_arns.values()))
    # The policy and the settings every time: an existing queue is brought back in line.
    sqs.set_queue_attributes(QueueUrl=url, Attributes=_queue_attributes() | {"Policy": json.dumps(policy)})
    return RegionSetup(queue_url=url, queue_arn=queue_arn, queue_created=created, rule_arns=rule_arns)


def _refusal(account, operation: str, *, doing: str) -> EventQueueSetupRefused:
    if operation == "AssumeRole":
        return EventQueueSetupRefused(
            f"The platform could not assume the role of AWS account {account.account_id} to {doing} "
            "(AccessDenied): check the role's trust policy and External ID."
        )
    return EventQueueSetupRefused(
        f"AWS account {account.account_id} refused {operation} while trying to {doing}. The "
        f"credentials must allow: {needed_permissions_text()} (on the queue {queue_name()} and the rules "
        f"{', '.join(EVENT_RULES)})."
    )


def event_queue_setup(*, account, regions: list[str] | None = None) -> dict[str, RegionSetup]:
    """Create (idempotently) the interruption-event queue, its policy and the EventBridge rules in each
    region (default: the account's regions to scan). Returns region -> RegionSetup.

    AccessDenied raises EventQueueSetupRefused naming every IAM action needed (SETUP_IAM_ACTIONS)."""
    regions = list(regions or account.regions_to_scan)
    done: dict[str, RegionSetup] = {}
    for region in regions:
        doing = f"set up the interruption-event queue in {region}"
        with aws_errors(doing):
            try:
                done[region] = _setup_region(account, region)
            except ClientError as exc:
                if is_access_denied(exc):
                    raise _refusal(account, exc.operation_name, doing=doing) from None
                raise
            except DomainError as exc:
                if exc.code == "aws_access_denied":
                    raise _refusal(account, "GetQueueUrl", doing=doing) from None
                raise
        logger.info(
            "event queue of account %s in %s %s", account.pk, region, "created" if done[region].queue_created else "ok"
        )
    return done
