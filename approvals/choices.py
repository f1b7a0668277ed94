from django.db import models


class ActionType(models.TextChoices):
    SWITCH_INSTANCE = "SWITCH_INSTANCE", "Switch instance"
    TERMINATE_ROGUE = "TERMINATE_ROGUE", "Terminate rogue instance"
    DELETE_WASTE = "DELETE_WASTE", "Delete waste resource"


class RiskLevel(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"
    CRITICAL = "CRITICAL", "Critical"


class ApprovalStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    EXPIRED = "EXPIRED", "Expired"


class ExecutionStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
