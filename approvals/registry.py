"""What each action type means: the schema its payload must follow, how to say it in plain words, and
the executor that performs it once approved.

The approvals app owns the payload schemas (the contract of the gate). Other apps register the executor
for their action type in their AppConfig.ready():

    from approvals.registry import register_executor
    register_executor(ActionType.TERMINATE_ROGUE, terminate_rogue_instance)

An executor receives the ApprovalRequest, does the work (idempotently where it can) and returns a small
JSON-able dict describing the result; it raises DomainError with a clear message when it cannot.
"""

from collections.abc import Callable
from dataclasses import dataclass

from rest_framework import serializers

from spotopt.errors import DomainError

from .choices import ActionType


class SwitchInstancePayload(serializers.Serializer):
    instance_id = serializers.RegexField(r"^i-[0-9a-f]{8,17}$")
    target_instance_type = serializers.RegexField(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", max_length=64)
    target_availability_zone = serializers.RegexField(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$", max_length=32)
    target_lifecycle = serializers.ChoiceField(choices=["spot", "on-demand"], default="spot")
    current_hourly_price = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0, required=False)
    target_hourly_price = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0, required=False)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class TerminateRoguePayload(serializers.Serializer):
    instance_id = serializers.RegexField(r"^i-[0-9a-f]{8,17}$")
    region = serializers.RegexField(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", max_length=32)
    flagged_at = serializers.DateTimeField(required=False)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class DeleteWastePayload(serializers.Serializer):
    waste_resource_id = serializers.UUIDField()
    resource_type = serializers.ChoiceField(choices=["elastic_ip", "ebs_volume", "ebs_snapshot", "ami"])
    resource_id = serializers.CharField(max_length=128)
    region = serializers.RegexField(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", max_length=32)
    monthly_cost = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, required=False)


Executor = Callable[..., dict]


@dataclass
class ActionSpec:
    payload_serializer: type[serializers.Serializer]
    describe: Callable[[dict], str]
    executor: Executor | None = None


def _describe_switch(p: dict) -> str:
    lifecycle = "Spot" if p.get("target_lifecycle", "spot") == "spot" else "on-demand"
    return (
        f"Replace instance {p.get('instance_id')} with a {lifecycle} {p.get('target_instance_type')} in "
        f"{p.get('target_availability_zone')}. The old instance is terminated once the new one is running."
    )


def _describe_terminate(p: dict) -> str:
    return (
        f"Terminate the unauthorized instance {p.get('instance_id')} in {p.get('region')}. Terminating deletes "
        "the instance and any volumes set to delete on termination; this cannot be undone."
    )


def _describe_delete_waste(p: dict) -> str:
    what = {
        "elastic_ip": "release the Elastic IP",
        "ebs_volume": "delete the EBS volume",
        "ebs_snapshot": "delete the EBS snapshot",
        "ami": "deregister the AMI",
    }.get(p.get("resource_type"), "delete the resource")
    return f"Permanently {what} {p.get('resource_id')} in {p.get('region')}. This cannot be undone."


ACTIONS: dict[str, ActionSpec] = {
    ActionType.SWITCH_INSTANCE: ActionSpec(SwitchInstancePayload, _describe_switch),
    ActionType.TERMINATE_ROGUE: ActionSpec(TerminateRoguePayload, _describe_terminate),
    ActionType.DELETE_WASTE: ActionSpec(DeleteWastePayload, _describe_delete_waste),
}


def register_executor(action_type: str, executor: Executor) -> None:
    ACTIONS[action_type].executor = executor


def executor_for(action_type: str) -> Executor:
    executor = ACTIONS[action_type].executor
    if executor is None:
        raise DomainError(
            f"No executor is registered for {action_type}: this installation cannot perform that action yet.",
            code="no_executor",
        )
    return executor


def validate_payload(action_type: str, payload) -> dict:
    """The payload as validated JSON-able data, or a DomainError naming every problem."""
    if action_type not in ACTIONS:
        raise DomainError(f"Unknown action type '{action_type}'.", code="invalid_action_type")
    if not isinstance(payload, dict):
        raise DomainError("The action payload must be a JSON object.", code="invalid_payload")
    serializer = ACTIONS[action_type].payload_serializer(data=payload)
    if not serializer.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in serializer.errors.items()
        )
        raise DomainError(f"The payload of a {action_type} request is not valid: {problems}", code="invalid_payload")
    # Back to plain JSON types (Decimals and datetimes as strings), as stored in the JSONField.
    return {
        key: value if isinstance(value, str | int | float | bool | None) else str(value)
        for key, value in serializer.validated_data.items()
    }


def describe(action_type: str, payload: dict) -> str:
    spec = ACTIONS.get(action_type)
    return spec.describe(payload or {}) if spec else f"{action_type} (unknown action type)"
