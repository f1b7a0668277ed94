"""What the waste API shows and takes: /api/v1/waste/…"""

from rest_framework import serializers

from spotopt.serializers import FastRepresentation

from .models import WasteResource


class WasteAccountSerializer(FastRepresentation, serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    account_name = serializers.CharField(read_only=True)
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)


class WasteResourceSerializer(FastRepresentation, serializers.ModelSerializer):
    """An idle resource: why it is waste, what it costs a month (USD; a snapshot's cost is an upper bound),
    where it is in its lifecycle, and what its deletion did (`outcome`)."""

    account = WasteAccountSerializer(read_only=True)
    instance_id = serializers.CharField(source="instance.instance_id", read_only=True, allow_null=True, default=None)
    approval_request = serializers.UUIDField(source="approval_request_id", read_only=True, allow_null=True)
    monthly_cost_is_upper_bound = serializers.SerializerMethodField()

    class Meta:
        model = WasteResource
        fields = [
            "id",
            "account",
            "region",
            "resource_type",
            "resource_id",
            "status",
            "reason",
            "monthly_cost",
            "currency",
            "monthly_cost_is_upper_bound",
            "days_unused",
            "deletable",
            "instance_id",
            "detected_at",
            "last_seen_at",
            "flagged_at",
            "scheduled_deletion_date",
            "approval_request",
            "outcome",
            "outcome_message",
            "deleted_at",
            "resolved_at",
            "resource_metadata",
        ]
        read_only_fields = fields

    def get_monthly_cost_is_upper_bound(self, row) -> bool:
        return bool((row.resource_metadata or {}).get("cost_is_upper_bound"))


class BulkActionRequestSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=1000)


class BulkActionResultSerializer(serializers.Serializer):
    done = serializers.ListField(child=serializers.UUIDField(), help_text="The rows the action was applied to.")
    skipped = serializers.DictField(child=serializers.CharField(), help_text="Resource id -> why it was skipped.")
    approval_requests = serializers.ListField(
        child=serializers.UUIDField(), help_text="Schedule: the DELETE_WASTE requests filed (one per account)."
    )


class ScanRequestSerializer(serializers.Serializer):
    account = serializers.UUIDField(help_text="The spotopt id of a connected account.")


class ScanQueuedSerializer(serializers.Serializer):
    account = serializers.UUIDField()
    state = serializers.CharField()


class TypeTotalSerializer(serializers.Serializer):
    resource_type = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    monthly_cost = serializers.DecimalField(max_digits=14, decimal_places=4)
    exempt = serializers.IntegerField()


class AccountTotalSerializer(serializers.Serializer):
    account_id = serializers.UUIDField()
    account_name = serializers.CharField()
    aws_account_id = serializers.CharField()
    count = serializers.IntegerField()
    monthly_cost = serializers.DecimalField(max_digits=14, decimal_places=4)


class WasteSummarySerializer(serializers.Serializer):
    """Monthly waste still on the list (detected, flagged, scheduled), by type and by account; exempt apart."""

    count = serializers.IntegerField()
    monthly_cost = serializers.DecimalField(max_digits=14, decimal_places=4)
    exempt = serializers.IntegerField()
    currency = serializers.CharField()
    by_type = TypeTotalSerializer(many=True)
    by_account = AccountTotalSerializer(many=True)
