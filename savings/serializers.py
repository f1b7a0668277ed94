from rest_framework import serializers

from .models import SavingsDay


class SavingsDaySerializer(serializers.ModelSerializer):
    account = serializers.UUIDField(source="account_id", read_only=True)
    instance = serializers.UUIDField(source="instance_id", read_only=True)
    instance_id = serializers.CharField(source="instance.instance_id", read_only=True)
    switch = serializers.UUIDField(source="switch_id", read_only=True, allow_null=True)
    realized_saving = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True)

    class Meta:
        model = SavingsDay
        fields = [
            "id",
            "account",
            "instance",
            "instance_id",
            "switch",
            "kind",
            "day",
            "hours",
            "baseline_cost",
            "actual_cost",
            "overlap_cost",
            "realized_saving",
            "projected_saving",
            "baseline_basis",
            "actual_basis",
            "currency",
        ]
        read_only_fields = fields


class SavingsMonthSerializer(serializers.Serializer):
    month = serializers.DateField()
    account = serializers.UUIDField()
    account_name = serializers.CharField()
    aws_account_id = serializers.CharField()
    baseline_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    actual_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    overlap_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    realized_saving = serializers.DecimalField(max_digits=14, decimal_places=2)
    projected_saving = serializers.DecimalField(max_digits=14, decimal_places=2)
    difference = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Realized minus projected.")
    moves = serializers.IntegerField()
    currency = serializers.CharField()
