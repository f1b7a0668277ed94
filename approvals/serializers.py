"""What the approvals API shows and takes: /api/v1/approvals/."""

from django.utils import timezone
from rest_framework import serializers

from spotopt.serializers import FastRepresentation

from .choices import ApprovalStatus, ExecutionStatus
from .models import ApprovalRequest
from .policy import can_decide, can_retry_execution
from .registry import describe

COMMENT_MAX_LENGTH = 4000


class ApprovalAccountSerializer(FastRepresentation, serializers.Serializer):
    """The account a request concerns, as far as the request needs to say."""

    id = serializers.UUIDField(read_only=True)
    account_name = serializers.CharField(read_only=True)
    # None while the account is a pending placeholder ("pending-…" is not an AWS account id).
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)


class ApprovalInstanceSerializer(FastRepresentation, serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    instance_id = serializers.CharField(read_only=True)


class ApprovalRequestSerializer(FastRepresentation, serializers.ModelSerializer):
    """An approval request, what it would do in plain words, its decision and its execution, plus what
    the person asking may do with it (`can_decide`, `can_retry`)."""

    action_type_display = serializers.CharField(source="get_action_type_display", read_only=True)
    description = serializers.SerializerMethodField()
    account = ApprovalAccountSerializer(read_only=True, allow_null=True)
    instance = ApprovalInstanceSerializer(read_only=True, allow_null=True)
    requester = serializers.CharField(
        source="requester.username",
        read_only=True,
        allow_null=True,
        help_text="Username of who filed the request; null when spotopt filed it automatically.",
    )
    approver = serializers.CharField(
        source="approver.username",
        read_only=True,
        allow_null=True,
        help_text="Username of who decided the request; null while pending or when it expired.",
    )
    can_decide = serializers.SerializerMethodField()
    can_retry = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "action_type",
            "action_type_display",
            "description",
            "action_payload",
            "risk_level",
            "status",
            "account",
            "instance",
            "aws_account_ref",
            "instance_ref",
            "requester",
            "approver",
            "decided_at",
            "decision_comment",
            "expires_at",
            "created_at",
            "execution_status",
            "execution_attempts",
            "execution_queued_at",
            "execution_started_at",
            "execution_finished_at",
            "execution_result",
            "execution_error",
            "can_decide",
            "can_retry",
        ]
        read_only_fields = fields

    def _user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_description(self, approval) -> str:
        return describe(approval.action_type, approval.action_payload)

    def get_can_decide(self, approval) -> bool:
        """Whether the person asking may approve or reject it now (pending, decision table, four eyes)."""
        return (
            approval.status == ApprovalStatus.PENDING
            and approval.expires_at > timezone.now()
            and can_decide(self._user(), approval)
        )

    def get_can_retry(self, approval) -> bool:
        """Whether the person asking may queue its failed execution again."""
        return approval.execution_status == ExecutionStatus.FAILED and can_retry_execution(self._user())


class ApprovalApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=COMMENT_MAX_LENGTH, help_text="Optional."
    )


class ApprovalRejectSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=COMMENT_MAX_LENGTH, help_text="Why the request is rejected (required; the requester reads it)."
    )
