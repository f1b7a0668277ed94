"""The CloudFormation onboarding template: the cross-account IAM role a customer creates for the platform.

The customer runs the template in their AWS account. It creates one IAM role that only the platform's
principal may assume, and only with the account's server-generated External ID (the confused-deputy guard),
plus one inline least-privilege policy with what the product needs: read the fleet, switch instances to Spot
(also inside Auto Scaling groups), delete approved waste, and read the EC2 interruption events from an SQS queue.
The stack also creates, in its own region, that queue (SSE, 5-minute retention), its policy (EventBridge may
send, only for these rules) and the EventBridge rules for the Spot interruption warning and the rebalance
recommendation. Further scanned regions get the same stack with CreateRole=false (only the queue pieces), or
`manage.py setup_event_queue` creates the same pieces there.

The builders are pure (the `*_for_account` helpers at the end add settings and the platform identity). The
template is plain data (long-form intrinsics such as {"Ref": ...}, no YAML tags), so the JSON and the YAML
renderings parse to the same dict. `manage.py export_cloudformation_template` writes the generic template (no
ExternalId default) for publishing to S3; that URL in settings.CLOUDFORMATION_TEMPLATE_URL enables the console
quick-create link.
"""

import json
import logging
import re
from urllib.parse import quote, urlencode

import yaml
from django.conf import settings
from django.urls import reverse

from spotopt import aws
from spotopt.errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

TEMPLATE_FORMAT_VERSION = "2010-09-09"
ROLE_LOGICAL_ID = "Role"
POLICY_NAME = "SpotOptimizerAccess"
MAX_SESSION_DURATION_SECONDS = 3600
MANAGED_BY_TAG = {"Key": "ManagedBy", "Value": "SpotOptimizer"}
# Names of what the platform itself creates in the customer's account (the interruption-event queue and rule).
PLATFORM_RESOURCE_PREFIX = "spotopt-"

# The interruption-event wiring, one set per region: EventBridge rules for EC2's two Spot signals delivering to
# one SQS queue the platform long-polls (risk.listener). The stack creates it in its own region;
# risk.queues.event_queue_setup creates the same (same names) where there is no stack.
DEFAULT_EVENT_QUEUE_NAME = "spotopt-interruption-events"  # settings.RISK_EVENT_QUEUE_NAME's default
EVENT_QUEUE_NAME_PATTERN = r"[A-Za-z0-9_-]{1,80}"
# A warning is worth nothing after its two minutes: keep messages 5 minutes (as NTH and Karpenter do).
EVENT_QUEUE_RETENTION_SECONDS = 300
EVENT_SOURCE = "aws.ec2"
# Rule name -> the detail-type it forwards.
EVENT_RULES = {
    "spotopt-spot-interruption-warning": "EC2 Spot Instance Interruption Warning",
    "spotopt-rebalance-recommendation": "EC2 Instance Rebalance Recommendation",
}
_RULE_LOGICAL_IDS = {
    "spotopt-spot-interruption-warning": "SpotInterruptionWarningRule",
    "spotopt-rebalance-recommendation": "RebalanceRecommendationRule",
}
EVENT_QUEUE_LOGICAL_ID = "EventQueue"
EVENT_QUEUE_TARGET_ID = "spotopt-event-queue"
CREATE_ROLE_CONDITION = "CreatesRole"


def event_pattern(detail_type: str) -> dict:
    return {"source": [EVENT_SOURCE], "detail-type": [detail_type]}


def event_queue_policy(*, queue_arn, rule_arns: list) -> dict:
    """The queue's resource policy: EventBridge may send to it, and only on behalf of these rules."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeRulesSendInterruptionEvents",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            }
        ],
    }


# IAM's own constraints on sts:AssumeRole's ExternalId (the CloudFormation parameter enforces the same).
EXTERNAL_ID_PATTERN = r"[\w+=,.@:/-]*"
EXTERNAL_ID_MIN_LENGTH = 2
EXTERNAL_ID_MAX_LENGTH = 1224
# An IAM role or user (or a whole account, by id or :root) that may assume the role.
PRINCIPAL_ARN_PATTERN = r"(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|(role|user)/[\w+=,.@/-]+))"
ROLE_NAME_PATTERN = r"[\w+=,.@-]+"
ROLE_NAME_MAX_LENGTH = 64

CONSOLE_URL = "https://console.aws.amazon.com/cloudformation/home"


def _ref(name: str) -> dict:
    return {"Ref": name}


def _sub(text: str) -> dict:
    return {"Fn::Sub": text}


def _statement(sid: str, actions: list[str], resource, condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def _ec2_arn(resource: str, *, with_account: bool = True) -> dict:
    # Snapshot and image ARNs carry no account id; everything else is pinned to the customer's own account.
    account = "${AWS::AccountId}" if with_account else ""
    return _sub(f"arn:${{AWS::Partition}}:ec2:*:{account}:{resource}")


def _waste_resources() -> list[dict]:
    return [
        _ec2_arn("elastic-ip/*"),
        _ec2_arn("volume/*"),
        _ec2_arn("snapshot/*", with_account=False),
        _ec2_arn("image/*", with_account=False),
    ]


def permission_statements(*, queue_name: str = DEFAULT_EVENT_QUEUE_NAME) -> list[dict]:
    """The inline policy's statements, one per purpose, each with the fewest actions and narrowest resources.

    Describe/List/Get actions and RunInstances/RequestSpotInstances do not support (or, for RunInstances,
    touch too many resource types to usefully support) resource-level scoping, so they use "*"; every write
    action names its action explicitly (no wildcard actions anywhere).
    """
    return [
        # Discovery of the fleet, of Spot prices and capacity pools, and of waste. DescribeLaunchTemplateVersions
        # reads what an ASG launches (to build the Spot replacement) and which AMIs are still referenced (an AMI
        # used by a launch template is not waste). DescribeInstanceStatus waits for a replacement to be healthy.
        _statement(
            "ReadEc2Inventory",
            [
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeSpotPriceHistory",
                "ec2:GetSpotPlacementScores",
                "ec2:DescribeSpotInstanceRequests",
                "ec2:DescribeImages",
                "ec2:DescribeImageAttribute",
                "ec2:DescribeSnapshots",
                "ec2:DescribeVolumes",
                "ec2:DescribeAddresses",
                "ec2:DescribeRegions",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeTags",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeSubnets",
            ],
            "*",
        ),
        _statement(
            "ReadAutoScaling",
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
            ],
            "*",
        ),
        # A standalone instance behind a load balancer: its replacement is registered in the same target groups
        # (and must be healthy there) before the old one is deregistered and terminated.
        _statement(
            "ReadLoadBalancerTargets",
            ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"],
            "*",
        ),
        _statement(
            "SwapLoadBalancerTargets",
            ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            _sub("arn:${AWS::Partition}:elasticloadbalancing:*:${AWS::AccountId}:targetgroup/*"),
        ),
        # EKS clusters and node groups: endpoint and CA of each cluster (a node is drained through its API,
        # with an access entry the customer maps to the spotopt:node-drainers group), and node-group
        # membership (a node's replacement must keep its cluster labels and capacity).
        _statement(
            "ReadEks",
            ["eks:ListClusters", "eks:DescribeCluster", "eks:ListNodegroups", "eks:DescribeNodegroup"],
            "*",
        ),
        _statement("ReadPricing", ["pricing:GetProducts"], "*"),
        # CPU/network utilisation decides whether an instance or volume is idle.
        _statement("ReadUtilisationMetrics", ["cloudwatch:GetMetricStatistics", "cloudwatch:GetMetricData"], "*"),
        # The verify step confirms which account the role lives in.
        _statement("VerifyConnection", ["sts:GetCallerIdentity"], "*"),
        # The Spot switch: launch the replacement (on-demand or Spot via RunInstances' market options, or a
        # classic Spot request). RunInstances touches images, subnets, security groups, network interfaces,
        # volumes, key pairs and launch templates, so its resource stays "*".
        _statement(
            "LaunchReplacementInstances",
            ["ec2:RunInstances", "ec2:RequestSpotInstances"],
            "*",
        ),
        _statement(
            "CancelSpotRequests",
            ["ec2:CancelSpotInstanceRequests"],
            _ec2_arn("spot-instances-request/*"),
        ),
        # Tags are written while launching (copying the original's tags onto its replacement); on existing
        # resources only the waste flag below: tags may drive other IAM policies (ABAC) in the customer's account.
        _statement(
            "TagOnLaunch",
            ["ec2:CreateTags"],
            "*",
            {"StringEquals": {"ec2:CreateAction": ["RunInstances", "RequestSpotInstances"]}},
        ),
        # The first Spot launch in an account creates EC2's Spot service-linked role; nothing else may be created.
        _statement(
            "CreateSpotServiceLinkedRole",
            ["iam:CreateServiceLinkedRole"],
            _sub(
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/spot.amazonaws.com/"
                "AWSServiceRoleForEC2Spot"
            ),
            {"StringEquals": {"iam:AWSServiceName": "spot.amazonaws.com"}},
        ),
        # A replacement keeps the original's instance profile; passing a role is allowed to EC2 only.
        _statement(
            "PassInstanceProfileRoleToEc2",
            ["iam:PassRole"],
            _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"),
            {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        # Retire the replaced instance and enforce approved rogue-instance actions. Scoped to this account's
        # instances but deliberately NOT to a tag: rogue instances are by definition ones nobody tagged for us.
        # Every such action runs only after the platform's own approval workflow.
        _statement(
            "StopStartTerminateInstances",
            ["ec2:StopInstances", "ec2:StartInstances", "ec2:TerminateInstances"],
            _ec2_arn("instance/*"),
        ),
        # Swapping an Auto Scaling group member (the Spot switch, the interruption safety net): attach the
        # replacement first, then take the original out (DetachInstances for a switch, or
        # TerminateInstanceInAutoScalingGroup for a doomed Spot member, so its lifecycle hooks and draining
        # run), with ShouldDecrementDesiredCapacity so the group keeps its size. A full group's MaxSize is
        # raised by one for the swap and put back (UpdateAutoScalingGroup); no other configuration changes.
        _statement(
            "SwapAutoScalingGroupInstances",
            [
                "autoscaling:AttachInstances",
                "autoscaling:DetachInstances",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "autoscaling:UpdateAutoScalingGroup",
            ],
            _sub("arn:${AWS::Partition}:autoscaling:*:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"),
        ),
        # The waste flag the owner sees in their console (`spotopt:waste = delete@<date>` or `keep`), put on and
        # taken off idle Elastic IPs, volumes, snapshots and AMIs, and on a volume's final snapshot as it is
        # made: that one tag key and nothing else.
        _statement(
            "TagWasteResources",
            ["ec2:CreateTags", "ec2:DeleteTags"],
            _waste_resources(),
            {"ForAllValues:StringEquals": {"aws:TagKeys": ["spotopt:waste"]}},
        ),
        # Deleting waste after its grace period and an approval. Like rogue instances, waste (idle Elastic IPs,
        # unattached volumes, old snapshots, unused AMIs) is usually untagged, so no tag condition; the
        # resources are limited to their type (and, where the ARN has one, to this account). CreateSnapshot
        # takes a volume's final snapshot before it is deleted (the account's setting, on by default).
        _statement(
            "DeleteApprovedWaste",
            [
                "ec2:ReleaseAddress",
                "ec2:DeleteVolume",
                "ec2:DeleteSnapshot",
                "ec2:DeregisterImage",
                "ec2:CreateSnapshot",
            ],
            _waste_resources(),
        ),
        # EC2 Spot interruption warnings and rebalance recommendations arrive on an SQS queue that the stack
        # itself creates (with the EventBridge rules feeding it), so the role only finds the queue, reads its
        # messages and deletes each one once it is stored. Exactly that queue, nothing to create or rewire.
        _statement(
            "ReadInterruptionEventQueue",
            ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
            _sub(f"arn:${{AWS::Partition}}:sqs:*:${{AWS::AccountId}}:{queue_name}"),
        ),
    ]


def _validate(
    *, external_id: str | None, platform_principal_arn: str, role_name: str, queue_name: str = DEFAULT_EVENT_QUEUE_NAME
) -> None:
    if external_id is not None and not (
        EXTERNAL_ID_MIN_LENGTH <= len(external_id) <= EXTERNAL_ID_MAX_LENGTH
        and re.fullmatch(EXTERNAL_ID_PATTERN, external_id, flags=re.ASCII)
    ):
        raise DomainError(
            f"The External ID must be {EXTERNAL_ID_MIN_LENGTH}-{EXTERNAL_ID_MAX_LENGTH} characters of letters, "
            "digits and +=,.@:/-_ (AWS's rule for sts:ExternalId)."
        )
    if not re.fullmatch(PRINCIPAL_ARN_PATTERN, platform_principal_arn or ""):
        raise DomainError(
            f"The platform principal '{platform_principal_arn}' is not an IAM role or user ARN "
            "(arn:aws:iam::<account>:role/<name>). Set PLATFORM_AWS_PRINCIPAL_ARN."
        )
    if not (len(role_name or "") <= ROLE_NAME_MAX_LENGTH and re.fullmatch(ROLE_NAME_PATTERN, role_name or "")):
        raise DomainError(
            f"The role name '{role_name}' is not a valid IAM role name (1-{ROLE_NAME_MAX_LENGTH} characters of "
            "letters, digits and +=,.@-_). Check CLOUDFORMATION_ROLE_NAME."
        )
    if not re.fullmatch(EVENT_QUEUE_NAME_PATTERN, queue_name or ""):
        raise DomainError(
            f"The event queue name '{queue_name}' is not a valid SQS queue name (1-80 letters, digits, - and _). "
            "Check RISK_EVENT_QUEUE_NAME."
        )


def _event_resources(queue_name: str) -> dict:
    """The queue, its policy and the two rules of this stack's region (created whatever CreateRole says)."""

    def queue_arn() -> dict:  # a fresh dict each time: a shared one would render as a YAML alias
        return {"Fn::GetAtt": [EVENT_QUEUE_LOGICAL_ID, "Arn"]}

    rules = {
        _RULE_LOGICAL_IDS[name]: {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": name,
                "Description": f"Spot Optimizer: deliver '{detail_type}' events to its SQS queue.",
                "EventPattern": event_pattern(detail_type),
                "State": "ENABLED",
                "Targets": [{"Id": EVENT_QUEUE_TARGET_ID, "Arn": queue_arn()}],
            },
        }
        for name, detail_type in EVENT_RULES.items()
    }
    return {
        EVENT_QUEUE_LOGICAL_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue_name,
                "MessageRetentionPeriod": EVENT_QUEUE_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "Tags": [dict(MANAGED_BY_TAG)],
            },
        },
        "EventQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [_ref(EVENT_QUEUE_LOGICAL_ID)],
                "PolicyDocument": event_queue_policy(
                    queue_arn=queue_arn(), rule_arns=[{"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in rules]
                ),
            },
        },
        **rules,
    }


def cloudformation_template(
    *,
    external_id: str | None,
    platform_principal_arn: str,
    role_name: str,
    queue_name: str = DEFAULT_EVENT_QUEUE_NAME,
) -> dict:
    """The onboarding template as plain data. With external_id=None it is the generic (publishable) template.

    One stack per scanned region: the home region's (CreateRole=true) creates the role and that region's
    event queue and rules; the others (CreateRole=false) only the queue and rules of their region."""
    _validate(
        external_id=external_id,
        platform_principal_arn=platform_principal_arn,
        role_name=role_name,
        queue_name=queue_name,
    )

    external_id_parameter = {
        "Type": "String",
        "Description": "The External ID shown by Spot Optimizer for this account. Do not change it.",
        "NoEcho": False,
        "MinLength": EXTERNAL_ID_MIN_LENGTH,
        "MaxLength": EXTERNAL_ID_MAX_LENGTH,
        "AllowedPattern": EXTERNAL_ID_PATTERN,
        "ConstraintDescription": "Letters, digits and +=,.@:/-_ only (2 to 1224 characters).",
    }
    if external_id is not None:
        external_id_parameter["Default"] = external_id

    assume_role_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SpotOptimizerPlatformWithExternalId",
                "Effect": "Allow",
                "Principal": {"AWS": _ref("PlatformPrincipalArn")},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": _ref("ExternalId")}},
            }
        ],
    }

    return {
        "AWSTemplateFormatVersion": TEMPLATE_FORMAT_VERSION,
        "Description": (
            "Spot Optimizer onboarding: a cross-account IAM role the Spot Optimizer platform assumes with your "
            "External ID to discover your EC2 fleet, move instances to Spot, delete approved waste and receive "
            "Spot interruption events, plus this region's interruption-event SQS queue and EventBridge rules. "
            "For every further region Spot Optimizer scans, deploy this template again in that region (or as a "
            "StackSet) with CreateRole=false. Least privilege; delete the stacks to revoke access."
        ),
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {
                        "Label": {"default": "Spot Optimizer access"},
                        "Parameters": ["ExternalId", "PlatformPrincipalArn", "RoleName", "CreateRole"],
                    }
                ],
                "ParameterLabels": {
                    "ExternalId": {"default": "External ID"},
                    "PlatformPrincipalArn": {"default": "Spot Optimizer platform principal"},
                    "RoleName": {"default": "Role name"},
                    "CreateRole": {"default": "Create the IAM role (home region only)"},
                },
            }
        },
        "Parameters": {
            "ExternalId": external_id_parameter,
            "PlatformPrincipalArn": {
                "Type": "String",
                "Description": "The Spot Optimizer platform identity allowed to assume the role.",
                "Default": platform_principal_arn,
                "AllowedPattern": PRINCIPAL_ARN_PATTERN,
                "ConstraintDescription": "An IAM role or user ARN (arn:aws:iam::<account>:role/<name>).",
            },
            "RoleName": {
                "Type": "String",
                "Description": "Name of the IAM role to create.",
                "Default": role_name,
                "MinLength": 1,
                "MaxLength": ROLE_NAME_MAX_LENGTH,
                "AllowedPattern": ROLE_NAME_PATTERN,
                "ConstraintDescription": "Letters, digits and +=,.@-_ only (1 to 64 characters).",
            },
            "CreateRole": {
                "Type": "String",
                "Description": (
                    "true in the first stack (it creates the account's IAM role); false in the stacks of further "
                    "regions, which only add that region's interruption-event queue and rules."
                ),
                "Default": "true",
                "AllowedValues": ["true", "false"],
            },
        },
        "Conditions": {CREATE_ROLE_CONDITION: {"Fn::Equals": [_ref("CreateRole"), "true"]}},
        "Resources": {
            ROLE_LOGICAL_ID: {
                "Type": "AWS::IAM::Role",
                "Condition": CREATE_ROLE_CONDITION,
                "Properties": {
                    "RoleName": _ref("RoleName"),
                    "Description": "Assumed by the Spot Optimizer platform (with the External ID).",
                    "AssumeRolePolicyDocument": assume_role_policy,
                    "MaxSessionDuration": MAX_SESSION_DURATION_SECONDS,
                    "Policies": [
                        {
                            "PolicyName": POLICY_NAME,
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": permission_statements(queue_name=queue_name),
                            },
                        }
                    ],
                    "Tags": [dict(MANAGED_BY_TAG)],
                },
            },
            **_event_resources(queue_name),
        },
        "Outputs": {
            "RoleArn": {
                "Condition": CREATE_ROLE_CONDITION,
                "Description": "Paste this role ARN into Spot Optimizer to finish connecting the account.",
                "Value": {"Fn::GetAtt": [ROLE_LOGICAL_ID, "Arn"]},
            },
            "ExternalId": {
                "Description": "The External ID the role requires.",
                "Value": _ref("ExternalId"),
            },
            "EventQueueUrl": {
                "Description": (
                    "This region's interruption-event queue. Spot Optimizer finds it by name; for more scanned "
                    "regions deploy this template there too with CreateRole=false (or use a StackSet)."
                ),
                "Value": _ref(EVENT_QUEUE_LOGICAL_ID),
            },
        },
    }


def cloudformation_template_json(
    *, external_id: str | None, platform_principal_arn: str, role_name: str, queue_name: str = DEFAULT_EVENT_QUEUE_NAME
) -> str:
    template = cloudformation_template(
        external_id=external_id,
        platform_principal_arn=platform_principal_arn,
        role_name=role_name,
        queue_name=queue_name,
    )
    return json.dumps(template, indent=2) + "\n"


def cloudformation_template_yaml(
    *, external_id: str | None, platform_principal_arn: str, role_name: str, queue_name: str = DEFAULT_EVENT_QUEUE_NAME
) -> str:
    template = cloudformation_template(
        external_id=external_id,
        platform_principal_arn=platform_principal_arn,
        role_name=role_name,
        queue_name=queue_name,
    )
    return yaml.safe_dump(template, sort_keys=False, default_flow_style=False, width=120)


def quick_create_url(
    *,
    external_id: str | None,
    region: str,
    template_url: str,
    stack_name: str,
    role_name: str,
    platform_principal_arn: str,
) -> str | None:
    """The AWS console's quick-create link for the published template; None when no template URL is set."""
    if not template_url:
        return None
    params = {"templateURL": template_url, "stackName": stack_name}
    if external_id:
        params["param_ExternalId"] = external_id
    params["param_PlatformPrincipalArn"] = platform_principal_arn
    params["param_RoleName"] = role_name
    region_query = urlencode({"region": region}, quote_via=quote)
    return f"{CONSOLE_URL}?{region_query}#/stacks/quickcreate?{urlencode(params, quote_via=quote, safe='')}"


def role_arn_for(aws_account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{aws_account_id}:role/{role_name}"


# --- Per-account helpers (read settings and the platform identity) --------------------------------------------

CONTENT_TYPES = {"json": "application/json", "yaml": "application/x-yaml"}
_RENDERERS = {"json": cloudformation_template_json, "yaml": cloudformation_template_yaml}


class PlatformSetupIncomplete(ServiceUnavailable):
    """The operator has not finished the platform's own AWS setup. Customers are told only that; the detail
    (which setting, what AWS said) goes to the log, `manage.py check --deploy` and the admin's index."""

    code = "platform_setup_incomplete"
    CUSTOMER_MESSAGE = (
        "spotopt's operator has not finished setting up the platform's AWS identity, so the CloudFormation "
        "template cannot be made yet. Try again later, or connect the account with access keys meanwhile."
    )

    def __init__(self, operator_detail: str):
        super().__init__(self.CUSTOMER_MESSAGE)
        self.operator_detail = operator_detail


def platform_setup_problems() -> list[str]:
    """What an operator must fix before customers can use the CloudFormation onboarding ([] when nothing).
    Asks STS for the platform's identity unless PLATFORM_AWS_PRINCIPAL_ARN names it."""
    problems = []
    try:
        principal = aws.platform_principal_arn()
    except DomainError as error:
        problems.append(f"The platform's AWS identity is unknown: {error.message}")
    else:
        if not re.fullmatch(PRINCIPAL_ARN_PATTERN, principal):
            problems.append(
                f"The platform principal '{principal}' is not an IAM role or user ARN "
                "(arn:aws:iam::<account>:role/<name>), so customers' roles cannot trust it. Set "
                "PLATFORM_AWS_PRINCIPAL_ARN to the IAM role the platform runs as."
            )
    name = settings.CLOUDFORMATION_ROLE_NAME
    if not (len(name or "") <= ROLE_NAME_MAX_LENGTH and re.fullmatch(ROLE_NAME_PATTERN, name or "")):
        problems.append(
            f"CLOUDFORMATION_ROLE_NAME '{name}' is not a valid IAM role name (1-{ROLE_NAME_MAX_LENGTH} characters "
            "of letters, digits and +=,.@-_)."
        )
    return problems


def platform_principal() -> str:
    """The principal customer roles trust; PlatformSetupIncomplete (logged for the operator) when the
    platform's setup does not allow a template yet."""
    problems = platform_setup_problems()
    if problems:
        detail = " ".join(problems)
        logger.error("CloudFormation onboarding is unavailable until the operator fixes: %s", detail)
        raise PlatformSetupIncomplete(detail)
    return aws.platform_principal_arn()


def role_name() -> str:
    return settings.CLOUDFORMATION_ROLE_NAME


def event_queue_name() -> str:
    return settings.RISK_EVENT_QUEUE_NAME


def template_for_account(*, account) -> dict:
    """The template for one account: its External ID as default, the platform principal and role name from settings."""
    return cloudformation_template(
        external_id=account.external_id,
        platform_principal_arn=platform_principal(),
        role_name=role_name(),
        queue_name=event_queue_name(),
    )


def template_text_for_account(*, account, output: str = "json") -> tuple[str, str]:
    """The rendered template for one account and its content type; output is "json" or "yaml"."""
    if output not in _RENDERERS:
        raise DomainError(f"Unknown template format '{output}': choose json or yaml.")
    text = _RENDERERS[output](
        external_id=account.external_id,
        platform_principal_arn=platform_principal(),
        role_name=role_name(),
        queue_name=event_queue_name(),
    )
    return text, CONTENT_TYPES[output]


def quick_create_url_for_account(*, account) -> str | None:
    """The console quick-create link for one account (None unless CLOUDFORMATION_TEMPLATE_URL is set)."""
    if not settings.CLOUDFORMATION_TEMPLATE_URL:
        return None
    return quick_create_url(
        external_id=account.external_id,
        region=account.region or settings.AWS_DEFAULT_REGION,
        template_url=settings.CLOUDFORMATION_TEMPLATE_URL,
        stack_name=settings.CLOUDFORMATION_STACK_NAME,
        role_name=role_name(),
        platform_principal_arn=platform_principal(),
    )


def onboarding_details(*, account, request) -> dict:
    """The CloudFormation step of a pending account: External ID, template links, quick-create link.
    Raises PlatformSetupIncomplete when the operator's setup does not allow a template yet."""
    template_url = reverse("onboarding-template", args=[account.pk])
    principal = platform_principal()
    return {
        "account": account,
        "external_id": account.external_id,
        "platform_principal_arn": principal,
        "template_json_url": request.build_absolute_uri(f"{template_url}?output=json"),
        "template_yaml_url": request.build_absolute_uri(f"{template_url}?output=yaml"),
        "quick_create_url": quick_create_url_for_account(account=account),
        "role_arn_example": role_arn_for("123456789012", role_name()),
    }
