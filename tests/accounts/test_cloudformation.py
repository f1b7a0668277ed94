"""The CloudFormation onboarding template: valid (cfn-lint), least privilege, and a trust policy that works."""

import io
import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from cfnlint.api import ManualArgs, lint
from django.core.management import CommandError, call_command
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from accounts import cloudformation as cfn
from spotopt.errors import DomainError

PRINCIPAL = "arn:aws:iam::123456789012:role/spotopt-platform"
ROLE_NAME = "SpotOptimizerCrossAccountRole"
EXTERNAL_ID = "spot-optimizer-0f1e2d3c-4b5a-4968-8776-65544332211f"
TEMPLATE_URL = "https://spotopt-public.s3.amazonaws.com/onboarding/template.yaml?versionId=a b&x=1"

# What the product does in a customer's account, hence what the role must be allowed to do, by purpose.
REQUIRED_ACTIONS_BY_PURPOSE = {
    "discovery: fleet, capacity pools, prices, waste": """
        ec2:DescribeInstances ec2:DescribeInstanceTypes ec2:DescribeSpotPriceHistory ec2:GetSpotPlacementScores
        ec2:DescribeImages
        ec2:DescribeSnapshots ec2:DescribeVolumes ec2:DescribeAddresses ec2:DescribeRegions
        ec2:DescribeAvailabilityZones ec2:DescribeInstanceTypeOfferings ec2:DescribeTags
        ec2:DescribeLaunchTemplates ec2:DescribeSubnets ec2:DescribeSpotInstanceRequests
        autoscaling:DescribeAutoScalingGroups autoscaling:DescribeAutoScalingInstances
        eks:DescribeCluster eks:ListClusters eks:ListNodegroups eks:DescribeNodegroup
        pricing:GetProducts cloudwatch:GetMetricStatistics cloudwatch:GetMetricData sts:GetCallerIdentity
    """,
    "the Spot switch (also inside Auto Scaling groups)": """
        ec2:RunInstances ec2:CreateTags ec2:TerminateInstances ec2:StopInstances ec2:StartInstances
        ec2:RequestSpotInstances ec2:CancelSpotInstanceRequests
        autoscaling:AttachInstances autoscaling:DetachInstances autoscaling:TerminateInstanceInAutoScalingGroup
        autoscaling:UpdateAutoScalingGroup iam:PassRole
    """,
    "waste: the flag tag, approved deletion, a volume's final snapshot": """
        ec2:CreateTags ec2:DeleteTags ec2:ReleaseAddress ec2:DeleteVolume ec2:DeleteSnapshot ec2:DeregisterImage
        ec2:CreateSnapshot
    """,
    "interruption events: read the stack's SQS queue": """
        sqs:GetQueueUrl sqs:GetQueueAttributes sqs:ReceiveMessage sqs:DeleteMessage
    """,
}
REQUIRED_ACTIONS = [action for actions in REQUIRED_ACTIONS_BY_PURPOSE.values() for action in actions.split()]
# The only non-read actions allowed on every resource: RunInstances/RequestSpotInstances touch too many resource
# types to scope; CreateTags is limited to launch time by a condition.
UNSCOPED_WRITE_ACTIONS = {"ec2:RunInstances", "ec2:RequestSpotInstances", "ec2:CreateTags"}
READ_PREFIXES = ("Describe", "List", "Get")


def _kwargs(external_id=EXTERNAL_ID):
    return {"external_id": external_id, "platform_principal_arn": PRINCIPAL, "role_name": ROLE_NAME}


def _role(template):
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return role


def _statements(template):
    (policy,) = _role(template)["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _granted(template):
    return {action for st in _statements(template) for action in _as_list(st["Action"])}


def _resolve(node, params, account_id):
    """Resolve the template's intrinsics the way CloudFormation would, for one set of parameter values."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return params[node["Ref"]]
        if set(node) == {"Fn::Sub"}:
            return node["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", account_id)
        assert not any(k.startswith("Fn::") for k in node), node
        return {k: _resolve(v, params, account_id) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, params, account_id) for v in node]
    return node


# --- validity -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("external_id", [EXTERNAL_ID, None], ids=["with-external-id", "generic"])
@pytest.mark.parametrize(
    "render", [cfn.cloudformation_template_json, cfn.cloudformation_template_yaml], ids=["json", "yaml"]
)
def test_template_passes_cfn_lint(render, external_id):
    text = render(**_kwargs(external_id))
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    assert matches == [], [str(m) for m in matches]


def test_cfn_lint_does_catch_a_bad_template():
    """Guard for the test above: an invented action and an out-of-range session length are reported."""
    template = cfn.cloudformation_template(**_kwargs())
    _statements(template)[0]["Action"].append("ec2:DescribeEverythingPlease")
    _role(template)["Properties"]["MaxSessionDuration"] = 60
    rules = {m.rule.id for m in lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))}
    assert {"W3037", "E3034"} <= rules


@pytest.mark.parametrize("external_id", [EXTERNAL_ID, None])
def test_yaml_and_json_renderings_are_the_same_plain_data(external_id):
    template = cfn.cloudformation_template(**_kwargs(external_id))
    from_json = json.loads(cfn.cloudformation_template_json(**_kwargs(external_id)))
    yaml_text = cfn.cloudformation_template_yaml(**_kwargs(external_id))
    # Plain data: no custom tags such as !Ref / !Sub / !GetAtt (safe_load would refuse them anyway).
    assert not any(tag in yaml_text for tag in ("!Ref", "!Sub", "!GetAtt", "!!python"))
    assert yaml.safe_load(yaml_text) == from_json == template
    # Key order is kept (the template reads top to bottom like a hand-written one).
    assert list(from_json) == [
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Conditions",
        "Resources",
        "Outputs",
    ]
    assert yaml_text.startswith("AWSTemplateFormatVersion: '2010-09-09'\n")


# --- parameters and outputs ----------------------------------------------------------------------------------


def test_parameters_with_external_id():
    template = cfn.cloudformation_template(**_kwargs())
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Description"]
    params = template["Parameters"]
    assert params["ExternalId"] == {
        "Type": "String",
        "Description": params["ExternalId"]["Description"],
        "NoEcho": False,
        "MinLength": 2,
        "MaxLength": 1224,
        "AllowedPattern": r"[\w+=,.@:/-]*",
        "ConstraintDescription": params["ExternalId"]["ConstraintDescription"],
        "Default": EXTERNAL_ID,
    }
    assert params["PlatformPrincipalArn"]["Default"] == PRINCIPAL
    assert params["RoleName"]["Default"] == ROLE_NAME


def test_generic_template_has_no_external_id_default():
    params = cfn.cloudformation_template(**_kwargs(None))["Parameters"]
    assert "Default" not in params["ExternalId"]
    assert params["ExternalId"]["MinLength"] == 2
    assert params["PlatformPrincipalArn"]["Default"] == PRINCIPAL


def test_role_properties_and_outputs():
    template = cfn.cloudformation_template(**_kwargs())
    props = _role(template)["Properties"]
    assert props["RoleName"] == {"Ref": "RoleName"}
    assert props["MaxSessionDuration"] == 3600
    assert {"Key": "ManagedBy", "Value": "SpotOptimizer"} in props["Tags"]
    assert template["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": ["Role", "Arn"]}
    assert template["Outputs"]["ExternalId"]["Value"] == {"Ref": "ExternalId"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"external_id": "x"}, "External ID"),
        ({"external_id": "spot optimizer"}, "External ID"),
        ({"external_id": "a" * 1225}, "External ID"),
        ({"platform_principal_arn": ""}, "PLATFORM_AWS_PRINCIPAL_ARN"),
        ({"platform_principal_arn": "arn:aws:sts::123456789012:assumed-role/x/y"}, "not an IAM role or user"),
        ({"role_name": "has space"}, "CLOUDFORMATION_ROLE_NAME"),
        ({"role_name": "r" * 65}, "CLOUDFORMATION_ROLE_NAME"),
    ],
)
def test_invalid_inputs_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(DomainError, match=message):
        cfn.cloudformation_template(**{**_kwargs(), **overrides})


# --- trust policy and permissions ----------------------------------------------------------------------------


def test_trust_policy_trusts_exactly_the_platform_with_the_external_id():
    trust = _role(cfn.cloudformation_template(**_kwargs()))["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Version"] == "2012-10-17"
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Ref": "PlatformPrincipalArn"}}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_every_action_the_product_needs_is_granted():
    granted = _granted(cfn.cloudformation_template(**_kwargs()))
    assert sorted(set(REQUIRED_ACTIONS) - granted) == []


def test_least_privilege():
    statements = _statements(cfn.cloudformation_template(**_kwargs()))
    sids = [st["Sid"] for st in statements]
    assert len(sids) == len(set(sids)) and all(sids)
    for st in statements:
        assert st["Effect"] == "Allow"
        assert "NotAction" not in st and "NotResource" not in st
        for action in _as_list(st["Action"]):
            name = action.split(":")[1]
            assert "*" not in action, f"wildcard action {action}"
            resources = _as_list(st["Resource"])
            if not name.startswith(READ_PREFIXES) and "*" in resources:
                assert action in UNSCOPED_WRITE_ACTIONS, f"{action} is allowed on every resource"
        if any(action.startswith("iam:") for action in _as_list(st["Action"])):
            assert "Condition" in st, f"{st['Sid']}: IAM actions need a condition"

    by_sid = {st["Sid"]: st for st in statements}
    (pass_role,) = [st for st in statements if "iam:PassRole" in st["Action"]]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    assert set(by_sid["TagOnLaunch"]["Condition"]["StringEquals"]["ec2:CreateAction"]) == {
        "RunInstances",
        "RequestSpotInstances",
    }
    # On existing resources, only the waste flag's one key, and only on the four waste resource types.
    tagging = by_sid["TagWasteResources"]
    assert set(tagging["Action"]) == {"ec2:CreateTags", "ec2:DeleteTags"}
    assert tagging["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": ["spotopt:waste"]}}
    assert "*" not in _as_list(tagging["Resource"])
    assert {st["Sid"] for st in statements if "ec2:CreateTags" in st["Action"]} == {"TagOnLaunch", "TagWasteResources"}
    sqs_resource = by_sid["ReadInterruptionEventQueue"]["Resource"]
    assert sqs_resource == {"Fn::Sub": "arn:${AWS::Partition}:sqs:*:${AWS::AccountId}:spotopt-interruption-events"}
    # The stack creates the queue and the rules: the role cannot create, reconfigure or rewire either.
    granted = set(_granted(cfn.cloudformation_template(**_kwargs())))
    assert not {a for a in granted if a.startswith("events:")}
    assert not granted & {"sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:SendMessage", "sqs:DeleteQueue"}
    # Destructive actions work on untagged rogue instances and untagged waste: no tag condition on them.
    for sid in ("StopStartTerminateInstances", "DeleteApprovedWaste"):
        assert "Condition" not in by_sid[sid]
    # Nothing to change IAM beyond passing roles to EC2 and EC2 Spot's own service-linked role.
    iam_actions = {a for a in _granted(cfn.cloudformation_template(**_kwargs())) if a.startswith("iam:")}
    assert iam_actions == {"iam:PassRole", "iam:CreateServiceLinkedRole"}


# --- quick-create link, per-account helpers ------------------------------------------------------------------


def _quick_create(**overrides):
    kwargs = {
        "external_id": EXTERNAL_ID,
        "region": "eu-west-1",
        "template_url": TEMPLATE_URL,
        "stack_name": "SpotOptimizer",
        "role_name": ROLE_NAME,
        "platform_principal_arn": PRINCIPAL,
    }
    return cfn.quick_create_url(**{**kwargs, **overrides})


def test_quick_create_url_encodes_every_parameter():
    url = _quick_create()
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://console.aws.amazon.com/cloudformation/home"
    assert parts.query == "region=eu-west-1"
    route, _, query = parts.fragment.partition("?")
    assert route == "/stacks/quickcreate"
    assert parse_qs(query) == {
        "templateURL": [TEMPLATE_URL],
        "stackName": ["SpotOptimizer"],
        "param_ExternalId": [EXTERNAL_ID],
        "param_PlatformPrincipalArn": [PRINCIPAL],
        "param_RoleName": [ROLE_NAME],
    }
    # Encoded, not raw: the template URL's own query cannot leak into the console's parameters.
    assert "templateURL=https%3A%2F%2Fspotopt-public.s3.amazonaws.com%2F" in query
    assert "%26x%3D1" in query and " " not in url


def test_quick_create_url_is_none_without_a_published_template():
    assert _quick_create(template_url="") is None
    assert _quick_create(template_url=None) is None


def test_role_arn_for():
    assert cfn.role_arn_for("111122223333", ROLE_NAME) == f"arn:aws:iam::111122223333:role/{ROLE_NAME}"


@pytest.fixture
def platform_principal(monkeypatch):
    monkeypatch.setattr("spotopt.aws.platform_principal_arn", lambda: PRINCIPAL, raising=False)
    return PRINCIPAL


def test_template_for_account(make_account, client_user, platform_principal, settings):
    settings.CLOUDFORMATION_ROLE_NAME = "AcmeSpotRole"
    account = make_account(client_user, external_id="spot-optimizer-1b2c3d4e-0000-4000-8000-000000000001")
    template = cfn.template_for_account(account=account)
    assert template == cfn.cloudformation_template(
        external_id=account.external_id, platform_principal_arn=PRINCIPAL, role_name="AcmeSpotRole"
    )
    assert template["Parameters"]["ExternalId"]["Default"] == account.external_id


@pytest.mark.parametrize(
    "output, parse, content_type",
    [("json", json.loads, "application/json"), ("yaml", yaml.safe_load, "application/x-yaml")],
)
def test_template_text_for_account(make_account, client_user, platform_principal, output, parse, content_type):
    account = make_account(client_user)
    text, answer_type = cfn.template_text_for_account(account=account, output=output)
    assert answer_type == content_type
    assert parse(text) == cfn.template_for_account(account=account)
    assert cfn.platform_principal() == PRINCIPAL
    with pytest.raises(DomainError, match="choose json or yaml"):
        cfn.template_text_for_account(account=account, output="xml")


def test_platform_principal_comes_from_the_setting(settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:iam::111122223333:role/from-settings"
    settings.CLOUDFORMATION_ROLE_NAME = "FromSettings"
    assert cfn.platform_principal() == "arn:aws:iam::111122223333:role/from-settings"
    assert cfn.role_name() == "FromSettings"


def test_quick_create_url_for_account(make_account, client_user, platform_principal, settings):
    account = make_account(client_user, region="ap-southeast-2")
    settings.CLOUDFORMATION_TEMPLATE_URL = ""
    assert cfn.quick_create_url_for_account(account=account) is None
    settings.CLOUDFORMATION_TEMPLATE_URL = TEMPLATE_URL
    settings.CLOUDFORMATION_STACK_NAME = "AcmeSpot"
    url = cfn.quick_create_url_for_account(account=account)
    query = parse_qs(urlsplit(url).fragment.partition("?")[2])
    assert "region=ap-southeast-2" in url
    assert query["param_ExternalId"] == [account.external_id]
    assert query["stackName"] == ["AcmeSpot"]
    assert query["param_PlatformPrincipalArn"] == [PRINCIPAL]


# --- the export command --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, parse", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_export_command_writes_the_generic_template_to_a_file(tmp_path, platform_principal, fmt, parse):
    target = tmp_path / f"template.{fmt}"
    out = io.StringIO()
    call_command("export_cloudformation_template", "--format", fmt, "--output", str(target), stdout=out)
    template = parse(target.read_text())
    assert template == cfn.cloudformation_template(**_kwargs(None))
    assert "Default" not in template["Parameters"]["ExternalId"]
    assert str(target) in out.getvalue()
    assert lint(target.read_text(), config=ManualArgs(regions=["us-east-1"])) == []


def test_export_command_prints_to_stdout_with_an_external_id(platform_principal):
    out = io.StringIO()
    call_command("export_cloudformation_template", "--external-id", EXTERNAL_ID, stdout=out)
    template = json.loads(out.getvalue())
    assert template["Parameters"]["ExternalId"]["Default"] == EXTERNAL_ID
    assert template["Parameters"]["PlatformPrincipalArn"]["Default"] == PRINCIPAL


def test_export_command_options_override_settings(platform_principal):
    out = io.StringIO()
    other = "arn:aws:iam::210987654321:user/spotopt"
    call_command(
        "export_cloudformation_template",
        "--format=yaml",
        f"--platform-principal-arn={other}",
        "--role-name=Custom",
        stdout=out,
    )
    params = yaml.safe_load(out.getvalue())["Parameters"]
    assert params["PlatformPrincipalArn"]["Default"] == other
    assert params["RoleName"]["Default"] == "Custom"


def test_export_command_uses_the_platform_principal_setting(settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:iam::111122223333:role/from-settings"
    out = io.StringIO()
    call_command("export_cloudformation_template", stdout=out)
    params = json.loads(out.getvalue())["Parameters"]
    assert params["PlatformPrincipalArn"]["Default"] == "arn:aws:iam::111122223333:role/from-settings"


def test_export_command_explains_an_unknown_platform_identity(monkeypatch):
    def unknown():
        raise DomainError("Could not find the platform's own AWS identity: no credentials.")

    monkeypatch.setattr("spotopt.aws.platform_principal_arn", unknown, raising=False)
    with pytest.raises(CommandError, match="platform's own AWS identity"):
        call_command("export_cloudformation_template", stdout=io.StringIO())


def test_export_command_refuses_a_bad_external_id(platform_principal, tmp_path):
    target = tmp_path / "t.json"
    with pytest.raises(CommandError, match="External ID"):
        call_command("export_cloudformation_template", "--external-id", "bad id", "--output", str(target))
    assert not target.exists()


# --- the trust policy really works (moto with IAM authorization on) ------------------------------------------


def test_trust_policy_admits_only_the_platform_with_the_right_external_id(monkeypatch):
    """Create the role from the template in moto, then assume it as the platform (and as others) with IAM
    authorization enforced: only the platform principal with the account's External ID gets in."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    region = "us-east-1"
    with mock_aws():
        iam = boto3.client("iam", region_name=region)
        account_id = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        role_arn = f"arn:aws:iam::{account_id}:role/{ROLE_NAME}"

        def principal_with_keys(name):
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            iam.put_user_policy(
                UserName=name,
                PolicyName="assume-customer-roles",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                    }
                ),
            )
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return arn, {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

        platform_arn, platform_keys = principal_with_keys("platform")
        _, intruder_keys = principal_with_keys("intruder")

        template = cfn.cloudformation_template(
            external_id=EXTERNAL_ID, platform_principal_arn=platform_arn, role_name=ROLE_NAME
        )
        params = {name: p["Default"] for name, p in template["Parameters"].items()}
        props = _resolve(_role(template)["Properties"], params, account_id)
        iam.create_role(
            RoleName=props["RoleName"],
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            MaxSessionDuration=props["MaxSessionDuration"],
            Tags=props["Tags"],
        )
        for policy in props["Policies"]:
            iam.put_role_policy(
                RoleName=props["RoleName"],
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )

        def assume(keys, **extra):
            sts = boto3.client("sts", region_name=region, **keys)
            return sts.assume_role(RoleArn=role_arn, RoleSessionName="spotopt", DurationSeconds=3600, **extra)

        # From here on every call is authenticated and authorized (no free actions).
        @set_initial_no_auth_action_count(0)
        def enforced():
            creds = assume(platform_keys, ExternalId=EXTERNAL_ID)["Credentials"]
            # (Assuming with no ExternalId at all is denied by AWS too, but moto 5.2 skips a StringEquals whose
            # key is absent from the request, so only a wrong External ID can be shown here.)
            with pytest.raises(ClientError) as excinfo:
                assume(platform_keys, ExternalId="spot-optimizer-someone-else")
            assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
            with pytest.raises(ClientError) as excinfo:
                assume(intruder_keys, ExternalId=EXTERNAL_ID)
            assert excinfo.value.response["Error"]["Code"] == "AccessDenied"

            # The assumed role has its inline policy: reads work, anything outside the policy is refused.
            role_keys = {
                "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"],
            }
            boto3.client("ec2", region_name=region, **role_keys).describe_instances()
            with pytest.raises(ClientError) as excinfo:
                boto3.client("iam", region_name=region, **role_keys).list_users()
            assert excinfo.value.response["Error"]["Code"] == "AccessDenied"

        enforced()


# --- the stacks really deploy and really deliver (moto's CloudFormation, EventBridge and SQS) ---------------


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto: no AWS::SQS::QueuePolicy
def test_one_stack_per_region_wires_the_interruption_events_to_the_queue(monkeypatch):
    """The home region's stack (CreateRole=true) makes the role and that region's queue and rules; a further
    region's (CreateRole=false) only its queue and rules. An EC2 event put on EventBridge lands on the queue."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    template_body = cfn.cloudformation_template_json(**_kwargs())
    # moto's CloudFormation skips AWS::SQS::QueuePolicy (and its EventBridge ignores queue policies), so the
    # policy is checked as written: EventBridge may send, only on behalf of the stack's two rules.
    (policy,) = [r for r in json.loads(template_body)["Resources"].values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": ["SpotInterruptionWarningRule", "Arn"]},
        {"Fn::GetAtt": ["RebalanceRecommendationRule", "Arn"]},
    ]
    with mock_aws():
        for region, create_role in (("us-east-2", "true"), ("eu-west-1", "false")):
            boto3.client("cloudformation", region_name=region).create_stack(
                StackName="spot-optimizer",
                TemplateBody=template_body,
                Parameters=[{"ParameterKey": "CreateRole", "ParameterValue": create_role}],
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
        roles = [r["RoleName"] for r in boto3.client("iam", region_name="us-east-1").list_roles()["Roles"]]
        assert roles.count(ROLE_NAME) == 1

        for region in ("us-east-2", "eu-west-1"):
            sqs = boto3.client("sqs", region_name=region)
            url = sqs.get_queue_url(QueueName=cfn.DEFAULT_EVENT_QUEUE_NAME)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert attributes["MessageRetentionPeriod"] == str(cfn.EVENT_QUEUE_RETENTION_SECONDS)
            events = boto3.client("events", region_name=region)
            rules = {r["Name"]: r for r in events.list_rules(NamePrefix=cfn.PLATFORM_RESOURCE_PREFIX)["Rules"]}
            assert set(rules) == set(cfn.EVENT_RULES)
            for name, detail_type in cfn.EVENT_RULES.items():
                assert json.loads(rules[name]["EventPattern"]) == {"source": ["aws.ec2"], "detail-type": [detail_type]}
                (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
                assert target["Arn"] == attributes["QueueArn"]

            events.put_events(
                Entries=[
                    {
                        "Source": "aws.ec2",
                        "DetailType": "EC2 Spot Instance Interruption Warning",
                        "Detail": json.dumps({"instance-id": "i-1234567890abcdef0", "instance-action": "terminate"}),
                    }
                ]
            )
            (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
            body = json.loads(message["Body"])
            assert body["detail-type"] == "EC2 Spot Instance Interruption Warning" and body["region"] == region
