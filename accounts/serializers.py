from django.conf import settings
from rest_framework import serializers

from .choices import EnvironmentType
from .models import Account
from .selectors import account_progress


def _region_field(**kwargs):
    return serializers.ChoiceField(choices=settings.SPOTOPT_REGIONS, **kwargs)


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

    def get_last_error(self, account) -> dict | None:
        return account_progress(account)["last_error"]

    def get_discovery(self, account) -> dict:
        return account_progress(account)["discovery"]


class AccountUpdateSerializer(serializers.Serializer):
    account_name = serializers.CharField(max_length=255, required=False)
    environment_type = serializers.ChoiceField(choices=EnvironmentType.choices, required=False)
    regions = serializers.ListField(child=_region_field(), required=False, allow_empty=True, max_length=32)


class PendingAccountCreateSerializer(serializers.Serializer):
    account_name = serializers.CharField(max_length=255)
    environment_type = serializers.ChoiceField(choices=EnvironmentType.choices, default=EnvironmentType.PROD)
    region = _region_field(required=False, default="us-east-1")
    regions = serializers.ListField(child=_region_field(), required=False, default=list, max_length=32)


class VerifyRoleSerializer(serializers.Serializer):
    role_arn = serializers.CharField(max_length=2048, trim_whitespace=True)


class AccessKeysSerializer(serializers.Serializer):
    access_key_id = serializers.CharField(max_length=128, write_only=True, trim_whitespace=True)
    secret_access_key = serializers.CharField(
        max_length=256, write_only=True, trim_whitespace=True, style={"input_type": "password"}
    )
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
