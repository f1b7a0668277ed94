"""What the risk API shows and takes: /api/v1/risk/…"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from spotopt.serializers import FastRepresentation

from .models import EventChannel, GlobalRiskEvent, HeldRiskEvent, RejectedIngest, SpotPoolRisk

REASON_MAX_LENGTH = 1000
NOTE_MAX_LENGTH = 2000


class RiskAccountSerializer(FastRepresentation, serializers.Serializer):
    """The account an event came from, as far as the event needs to say."""

    id = serializers.UUIDField(read_only=True)
    account_name = serializers.CharField(read_only=True)
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)


class PoolLiftSerializer(serializers.Serializer):
    """A lift, as kept in the pool's history."""

    at = serializers.DateTimeField()
    by = serializers.CharField()
    reason = serializers.CharField()


class SpotPoolSerializer(serializers.ModelSerializer):
    """A Spot capacity pool as the hive remembers it, for every tenant (never which tenant was interrupted)."""

    pool_id = serializers.CharField(read_only=True, help_text="region:availability_zone:instance_type")
    poisoned = serializers.SerializerMethodField(
        help_text="Poisoned now: no launch path of the product picks the pool until poison_expires_at."
    )
    rebalance_count = serializers.SerializerMethodField(help_text="Rebalance recommendations seen in the pool.")
    false_alarms = serializers.SerializerMethodField(help_text="Replicas retired because the primary survived.")
    lifts = serializers.SerializerMethodField(help_text="Poisons a super_admin lifted early, with the reason.")

    class Meta:
        model = SpotPoolRisk
        fields = [
            "id",
            "pool_id",
            "region",
            "availability_zone",
            "instance_type",
            "poisoned",
            "poisoned_at",
            "poison_expires_at",
            "interruption_count",
            "last_interruption",
            "rebalance_count",
            "false_alarms",
            "lifts",
        ]
        read_only_fields = fields

    def get_poisoned(self, pool) -> bool:
        return bool(pool.is_poisoned and pool.poison_expires_at and pool.poison_expires_at > timezone.now())

    def get_rebalance_count(self, pool) -> int:
        return int(pool.pool_metadata.get("rebalance_count", 0))

    def get_false_alarms(self, pool) -> int:
        return int(pool.pool_metadata.get("false_alarms", 0))

    @extend_schema_field(PoolLiftSerializer(many=True))
    def get_lifts(self, pool) -> list:
        return [
            {"at": lift.get("at"), "by": lift.get("by", ""), "reason": lift.get("reason", "")}
            for lift in pool.pool_metadata.get("lifts", [])
        ]


class PoolLiftRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, help_text="Why the pool is safe again (kept).")


class RiskEventSerializer(FastRepresentation, serializers.ModelSerializer):
    """One interruption signal of the user's accounts, and what it did to the hive."""

    account = RiskAccountSerializer(read_only=True, allow_null=True)

    class Meta:
        model = GlobalRiskEvent
        fields = [
            "id",
            "event_id",
            "event_type",
            "instance_action",
            "pool_id",
            "region",
            "availability_zone",
            "instance_type",
            "instance_id",
            "account",
            "reported_at",
            "received_at",
            "channel",
            "outcome",
            "expires_at",
        ]
        read_only_fields = fields


class RiskEventDetailSerializer(RiskEventSerializer):
    class Meta(RiskEventSerializer.Meta):
        fields = [*RiskEventSerializer.Meta.fields, "raw_event"]
        read_only_fields = fields


class HeldEventEventSerializer(RiskEventSerializer):
    """The held event's own fields (its account is the held row's)."""

    class Meta(RiskEventSerializer.Meta):
        fields = [name for name in RiskEventSerializer.Meta.fields if name not in ("account", "outcome")]
        read_only_fields = fields


class HeldEventSerializer(serializers.ModelSerializer):
    account = RiskAccountSerializer(read_only=True, allow_null=True)
    event = HeldEventEventSerializer(read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True)

    class Meta:
        model = HeldRiskEvent
        fields = ["id", "status", "event", "account", "created_at", "decided_by", "decided_at", "decision_note"]
        read_only_fields = fields


class HeldDecisionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=NOTE_MAX_LENGTH, required=False, allow_blank=True, default="")


class RejectedIngestSerializer(FastRepresentation, serializers.ModelSerializer):
    account = RiskAccountSerializer(read_only=True, allow_null=True)

    class Meta:
        model = RejectedIngest
        fields = ["id", "received_at", "channel", "reason", "message", "account", "aws_account_id", "event_id"]
        read_only_fields = fields


class EventChannelSerializer(serializers.ModelSerializer):
    """How an account's interruption events reach spotopt: the SQS listener's health and whether a webhook
    secret is set (the secret itself is shown once, when it is made)."""

    account = RiskAccountSerializer(read_only=True)
    webhook_secret_set = serializers.SerializerMethodField()

    class Meta:
        model = EventChannel
        fields = [
            "account",
            "listener_state",
            "listener_error",
            "listener_failures",
            "listener_retry_at",
            "queues",
            "last_message_at",
            "webhook_secret_set",
            "webhook_secret_created_at",
        ]
        read_only_fields = fields

    def get_webhook_secret_set(self, channel) -> bool:
        return bool(channel.webhook_secret_hash)


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        help_text="Shown this once; spotopt keeps only a hash. Header X-SpotOpt-Event-Secret."
    )
    header = serializers.CharField()
    created_at = serializers.DateTimeField()


class IngestResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["stored", "duplicate", "rejected"])
    event_id = serializers.CharField(required=False)
    outcome = serializers.CharField(required=False)
    pool_id = serializers.CharField(required=False)
    reason = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class IngestResponseSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = IngestResultSerializer(many=True)
