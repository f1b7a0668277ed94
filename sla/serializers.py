"""What the SLA API shows: /api/v1/sla/summary/ and /api/v1/sla/downtime/."""

from rest_framework import serializers

from spotopt.serializers import FastRepresentation

from .models import DowntimeLog


class DowntimeAccountSerializer(FastRepresentation, serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    account_name = serializers.CharField(read_only=True)
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)


class DowntimeSerializer(FastRepresentation, serializers.ModelSerializer):
    """A stretch of downtime spotopt caused. `duration_seconds` is null while it is still ongoing."""

    account = DowntimeAccountSerializer(read_only=True, allow_null=True)
    instance_id = serializers.CharField(source="instance_ref", read_only=True)
    aws_account_id = serializers.CharField(source="aws_account_ref", read_only=True)

    class Meta:
        model = DowntimeLog
        fields = [
            "id",
            "account",
            "aws_account_id",
            "instance_id",
            "cause",
            "started_at",
            "ended_at",
            "duration_seconds",
            "details",
        ]
        read_only_fields = fields


class SummaryQuerySerializer(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=24, default=12)


class AccountMonthSerializer(serializers.Serializer):
    account_id = serializers.UUIDField(allow_null=True)
    account_name = serializers.CharField()
    aws_account_id = serializers.CharField(allow_null=True)
    month = serializers.DateField(help_text="The first day of the calendar month (UTC).")
    downtime_seconds = serializers.DecimalField(max_digits=12, decimal_places=3)
    budget_seconds = serializers.IntegerField()
    budget_left_seconds = serializers.DecimalField(max_digits=12, decimal_places=3)
    over_budget = serializers.BooleanField()
    incidents = serializers.IntegerField()
    open_incidents = serializers.IntegerField(help_text="Still ongoing: counted until now.")
    by_cause = serializers.DictField(child=serializers.DecimalField(max_digits=12, decimal_places=3))


class MonthSerializer(serializers.Serializer):
    month = serializers.DateField()
    worst_account_seconds = serializers.DecimalField(max_digits=12, decimal_places=3)
    total_seconds = serializers.DecimalField(max_digits=12, decimal_places=3)
    accounts_over_budget = serializers.IntegerField()
    incidents = serializers.IntegerField()


class SlaSummarySerializer(serializers.Serializer):
    budget_seconds = serializers.IntegerField(help_text="Downtime spotopt may cause per account and month.")
    months = MonthSerializer(many=True, help_text="Oldest first; the SLA is per account, so the worst account.")
    by_cause = serializers.DictField(child=serializers.DecimalField(max_digits=12, decimal_places=3))
    accounts = AccountMonthSerializer(many=True, help_text="Accounts with downtime, newest month first.")


def summary_data(summary) -> dict:
    return {
        "budget_seconds": summary.budget_seconds,
        "months": summary.by_month,
        "by_cause": summary.by_cause,
        "accounts": [
            {
                "account_id": row.account_id,
                "account_name": row.account_name,
                "aws_account_id": row.aws_account_id,
                "month": row.month,
                "downtime_seconds": row.downtime_seconds,
                "budget_seconds": summary.budget_seconds,
                "budget_left_seconds": row.budget_left_seconds,
                "over_budget": row.over_budget,
                "incidents": row.incidents,
                "open_incidents": row.open_incidents,
                "by_cause": row.by_cause,
            }
            for row in summary.rows
        ],
    }
