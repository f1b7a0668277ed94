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
from decimal import Decimal, InvalidOperation

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


class WasteResourcePayload(serializers.Serializer):
    waste_resource_id = serializers.UUIDField()
    resource_type = serializers.ChoiceField(choices=["elastic_ip", "ebs_volume", "ebs_snapshot", "ami"])
    resource_id = serializers.CharField(max_length=128)
    region = serializers.RegexField(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", max_length=32)
    monthly_cost = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, required=False)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class DeleteWastePayload(serializers.Serializer):
    """One account's batch: every resource with its reason, and the total an approver weighs."""

    resources = WasteResourcePayload(many=True, allow_empty=False, max_length=1000)
    total_monthly_cost = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0)
    final_snapshot = serializers.BooleanField(default=True)


Executor = Callable[..., dict]


class ExecutionFailed(DomainError):
    """An executor's failure after part of the work was done: `result` records what was (kept on the request
    with the error, so an admin's retry sees what is left)."""

    code = "execution_failed"

    def __init__(self, message: str, *, result: dict):
        super().__init__(message)
        self.result = result


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
    counts: dict[str, int] = {}
    for item in p.get("resources") or []:
        counts[item.get("resource_type")] = counts.get(item.get("resource_type"), 0) + 1
    words = {
        "elastic_ip": ("release {n} Elastic IP", "release {n} Elastic IPs"),
        "ebs_volume": ("delete {n} EBS volume", "delete {n} EBS volumes"),
        "ebs_snapshot": ("delete {n} EBS snapshot", "delete {n} EBS snapshots"),
        "ami": ("deregister {n} AMI and delete its snapshots", "deregister {n} AMIs and delete their snapshots"),
    }
    parts = []
    for kind, n in counts.items():
        one, many = words.get(kind, ("delete {n} resource", "delete {n} resources"))
        text = (one if n == 1 else many).format(n=n)
        if kind == "ebs_volume" and p.get("final_snapshot"):
            text += " (snapshotted first)"
        parts.append(text)
    try:
        total = f"${Decimal(str(p.get('total_monthly_cost', '0'))):,.2f}"
    except (InvalidOperation, ValueError):
        total = "an unknown amount"
    return (
        f"Permanently {'; '.join(parts) or 'delete nothing'}, {total} a month of idle resources. Each one is "
        "checked again in AWS just before it is deleted and skipped if it is in use. This cannot be undone."
    )


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
        problems = "; ".join(f"{field}: {message}" for field, message in _flat_errors(serializer.errors))
        raise DomainError(f"The payload of a {action_type} request is not valid: {problems}", code="invalid_payload")
    return _plain(serializer.validated_data)


def _flat_errors(errors, prefix: str = ""):
    """("resources[0].region", "Enter a valid value.") pairs from a serializer's nested errors."""
    if isinstance(errors, dict):
        for field, inner in errors.items():
            if isinstance(field, int):  # a list's items, by their place
                yield from _flat_errors(inner, f"{prefix}[{field}]")
            else:
                yield from _flat_errors(inner, f"{prefix}.{field}" if prefix else str(field))
    elif isinstance(errors, list) and errors and all(isinstance(e, dict | list) for e in errors):
        for index, inner in enumerate(errors):
            if inner:
                yield from _flat_errors(inner, f"{prefix}[{index}]")
    else:
        yield prefix, " ".join(str(message) for message in errors)


def _plain(value):
    """Back to plain JSON types as stored in the JSONField: Decimals, UUIDs and datetimes as strings."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value if isinstance(value, str | int | float | bool | None) else str(value)


def describe(action_type: str, payload: dict) -> str:
    spec = ACTIONS.get(action_type)
    return spec.describe(payload or {}) if spec else f"{action_type} (unknown action type)"
