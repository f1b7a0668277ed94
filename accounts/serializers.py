from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from spotopt.errors import DomainError

from . import services
from .choices import AccountStatus, EnvironmentType, Role
from .models import MAX_INSTANCE_TYPE_PATTERNS, Account, Team, TeamInvitation, User, instance_type_patterns_clean
from .selectors import account_progress


def _region_field(**kwargs):
    return serializers.ChoiceField(choices=settings.SPOTOPT_REGIONS, **kwargs)


# --- What accounts.selectors.account_progress answers (documented here; the views send the dict as is) -------


class AccountErrorSerializer(serializers.Serializer):
    """Why the last attempt (verification, keys check, discovery) failed; never a secret."""

    message = serializers.CharField()
    code = serializers.CharField()


class DiscoveryProgressSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["not_started", "running", "succeeded", "failed"])
    regions_total = serializers.IntegerField()
    regions_done = serializers.IntegerField()
    percent = serializers.IntegerField(min_value=0, max_value=100)
    instances_found = serializers.IntegerField()
    regions = serializers.DictField(child=serializers.IntegerField(), help_text="Instances found, by region.")
    errors = serializers.DictField(child=serializers.CharField(), help_text="Why a region failed, by region.")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class AccountProgressSerializer(serializers.Serializer):
    """What the onboarding page polls: status, discovery progress and the last error."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    is_final = serializers.BooleanField()
    discovery = DiscoveryProgressSerializer()
    last_error = AccountErrorSerializer(allow_null=True)


class CloudFormationTemplateSerializer(serializers.Serializer):
    """The CloudFormation template (JSON, or the same document as YAML)."""

    AWSTemplateFormatVersion = serializers.CharField()
    Description = serializers.CharField()
    Metadata = serializers.DictField()
    Parameters = serializers.DictField()
    Resources = serializers.DictField()
    Outputs = serializers.DictField()


class AccountSerializer(serializers.ModelSerializer):
    """An account as customers see it. The encrypted keys are never part of it."""

    owner = serializers.CharField(source="user.username", read_only=True)
    # None while pending: "pending-…" is our placeholder, not an AWS account id.
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)
    has_access_keys = serializers.BooleanField(read_only=True)
    last_error = serializers.SerializerMethodField()
    discovery = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id",
            "aws_account_id",
            "account_name",
            "environment_type",
            "connection_method",
            "role_arn",
            "external_id",
            "region",
            "regions",
            "allowed_instance_types",
            "denied_instance_types",
            "waste_grace_days",
            "waste_final_snapshot",
            "optimizer_min_saving",
            "optimizer_max_risk",
            "allow_automatic_switches",
            "switch_max_group_share",
            "kubernetes_dry_run",
            "status",
            "is_active",
            "has_access_keys",
            "owner",
            "last_error",
            "discovery",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AccountErrorSerializer(allow_null=True))
    def get_last_error(self, account) -> dict | None:
        return account_progress(account)["last_error"]

    @extend_schema_field(DiscoveryProgressSerializer)
    def get_discovery(self, account) -> dict:
        return account_progress(account)["discovery"]


def _instance_types_field(help_text: str):
    return serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True),
        required=False,
        allow_empty=True,
        max_length=MAX_INSTANCE_TYPE_PATTERNS,
        help_text=help_text,
    )


def _share_field(low: str, high: str, help_text: str, **kwargs):
    return serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=Decimal(low),
        max_value=Decimal(high),
        required=False,
        help_text=f"{help_text} A share from {low} to {high}, at most three decimals.",
        **kwargs,
    )


class AccountUpdateSerializer(serializers.Serializer):
    account_name = serializers.CharField(max_length=255, required=False)
    environment_type = serializers.ChoiceField(choices=EnvironmentType.choices, required=False)
    regions = serializers.ListField(child=_region_field(), required=False, allow_empty=True, max_length=32)
    allowed_instance_types = _instance_types_field(
        "Instance-type patterns spotopt may move the account's instances to (letters, digits, '.', '-', and '*' "
        "for anything: m5.*, c6i.large); empty: any compatible type."
    )
    denied_instance_types = _instance_types_field(
        "Instance-type patterns spotopt never moves the account's instances to (denied wins over allowed)."
    )
    waste_grace_days = serializers.IntegerField(
        min_value=1,
        max_value=90,
        required=False,
        help_text="Days between flagging an idle resource (tagged in AWS) and asking for its deletion.",
    )
    waste_final_snapshot = serializers.BooleanField(
        required=False, help_text="Snapshot a volume before deleting it (the snapshot is kept)."
    )
    optimizer_min_saving = _share_field(
        "0.01",
        "0.95",
        "The least share of the hourly price a switch must save (0.2: 20%); null: the installation default "
        "(OPTIMIZER_MIN_SAVING).",
        allow_null=True,
    )
    optimizer_max_risk = _share_field(
        "0.001",
        "0.5",
        "The highest predicted interruption (crash) probability of a pool the optimizer moves to (0.15: 15%); "
        "null: the installation default (OPTIMIZER_MAX_RISK).",
        allow_null=True,
    )
    allow_automatic_switches = serializers.BooleanField(
        required=False,
        help_text="Switch a PROD account's instances without an approval request (LAB accounts always do).",
    )
    switch_max_group_share = _share_field(
        "0.01",
        "1",
        "The largest share of an Auto Scaling group whose switches may be planned or in flight at once.",
    )
    kubernetes_dry_run = serializers.BooleanField(
        required=False,
        help_text="Kubernetes nodes: record what a drain would do (taint, cordon, evictions) and write nothing.",
    )

    # null clears a threshold: the installation's default applies again (an absent field is left as it is).
    def validate_optimizer_min_saving(self, value):
        return services.INSTALLATION_DEFAULT if value is None else value

    def validate_optimizer_max_risk(self, value):
        return services.INSTALLATION_DEFAULT if value is None else value

    def _patterns(self, value, field):
        try:
            return instance_type_patterns_clean(value, field=field)
        except DomainError as error:
            raise serializers.ValidationError(error.message) from None

    def validate_allowed_instance_types(self, value):
        return self._patterns(value, "allowed_instance_types")

    def validate_denied_instance_types(self, value):
        return self._patterns(value, "denied_instance_types")


class PendingAccountCreateSerializer(serializers.Serializer):
    account_name = serializers.CharField(max_length=255)
    environment_type = serializers.ChoiceField(choices=EnvironmentType.choices, default=EnvironmentType.PROD)
    region = _region_field(required=False, default="us-east-1")
    regions = serializers.ListField(child=_region_field(), required=False, default=list, max_length=32)


class VerifyRoleSerializer(serializers.Serializer):
    role_arn = serializers.CharField(max_length=2048, trim_whitespace=True)


class AccessKeysOnlySerializer(serializers.Serializer):
    access_key_id = serializers.CharField(max_length=128, write_only=True, trim_whitespace=True)
    secret_access_key = serializers.CharField(
        max_length=256, write_only=True, trim_whitespace=True, style={"input_type": "password"}
    )


class AccessKeysSerializer(AccessKeysOnlySerializer):
    account_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    environment_type = serializers.ChoiceField(choices=EnvironmentType.choices, default=EnvironmentType.PROD)
    region = _region_field(required=False, default="us-east-1")
    regions = serializers.ListField(child=_region_field(), required=False, default=list, max_length=32)


class OnboardingSerializer(serializers.Serializer):
    """What a customer needs to create the CloudFormation stack for a pending account."""

    account = AccountSerializer()
    external_id = serializers.CharField()
    platform_principal_arn = serializers.CharField()
    template_json_url = serializers.CharField()
    template_yaml_url = serializers.CharField()
    quick_create_url = serializers.CharField(allow_null=True)
    role_arn_example = serializers.CharField()


# --- Teams ------------------------------------------------------------------------------------------------


class TeamMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "full_name", "email", "role", "created_at"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    members = TeamMemberSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "members", "created_at"]
        read_only_fields = fields


class TeamRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)


class TeamInvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, allow_null=True)

    class Meta:
        model = TeamInvitation
        fields = ["id", "email", "role", "status", "invited_by", "expires_at", "created_at"]
        read_only_fields = fields


class TeamInvitationCreatedSerializer(TeamInvitationSerializer):
    link = serializers.CharField(help_text="The invitation link: shown this once (it is also emailed).")

    class Meta(TeamInvitationSerializer.Meta):
        fields = [*TeamInvitationSerializer.Meta.fields, "link"]
        read_only_fields = fields


class TeamInvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=[Role.USER, Role.CLIENT], default=Role.USER)
