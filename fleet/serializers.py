"""What the instances API shows and takes: /api/v1/instances/."""

from rest_framework import serializers

from accounts.choices import EnvironmentType
from spotopt.serializers import FastRepresentation

from .choices import PipelineMode
from .models import DISCOVERED_FIELDS, Instance

# The only fields a PATCH may change (the Lab controls); everything else is what discovery found.
LAB_FIELDS = ("pipeline_mode", "is_shadow_mode", "assigned_model_version")


class InstanceAccountSerializer(FastRepresentation, serializers.Serializer):
    """The account an instance belongs to, as far as the instance needs to say."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(source="account_name", read_only=True)
    # None while the account is a pending placeholder ("pending-…" is not an AWS account id).
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)
    environment_type = serializers.ChoiceField(choices=EnvironmentType.choices, read_only=True)


class InstanceSerializer(FastRepresentation, serializers.ModelSerializer):
    """An EC2 instance as last discovered, with its Lab controls and its current hourly price."""

    name = serializers.CharField(read_only=True, help_text='The instance\'s Name tag ("" when it has none).')
    account = InstanceAccountSerializer(read_only=True)
    hourly_price = serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="USD an hour: the on-demand list price, or the pool's latest spot price (price_source says "
        "which); null when it is not known (never counted as zero).",
    )
    replica_of = serializers.SlugRelatedField(
        slug_field="instance_id",
        read_only=True,
        allow_null=True,
        help_text="EC2 instance id of the instance this replica stands in for; null when it is gone or not a replica.",
    )

    class Meta:
        model = Instance
        fields = [
            "id",
            "instance_id",
            "name",
            "account",
            *DISCOVERED_FIELDS,
            "auth_status",
            "flagged_at",
            "pipeline_mode",
            "is_shadow_mode",
            "assigned_model_version",
            "is_replica",
            "replica_of",
            "replica_expiry",
            "is_active",
            "last_evaluation",
            "instance_metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class InstanceLabUpdateSerializer(serializers.Serializer):
    """The Lab controls of a LAB-environment instance. Any other field is read-only and refused."""

    pipeline_mode = serializers.ChoiceField(choices=PipelineMode.choices, required=False)
    is_shadow_mode = serializers.BooleanField(required=False)
    assigned_model_version = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Version of a model that is not archived; an empty string unassigns the model.",
    )

    # Sent by HTML forms of the browsable API; not data.
    _IGNORED = frozenset({"csrfmiddlewaretoken"})

    def validate(self, attrs):
        # Refuse (rather than silently ignore) what cannot be changed here: an integrator who sends
        # instance_type expects it to change, so say it will not.
        refused = sorted(set(self.initial_data) - set(LAB_FIELDS) - self._IGNORED)
        if refused:
            allowed = ", ".join(LAB_FIELDS)
            raise serializers.ValidationError(
                {name: [f"This field is read-only; only {allowed} can be changed."] for name in refused}
            )
        return attrs
