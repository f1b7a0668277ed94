from django.db import models


class ResourceType(models.TextChoices):
    ELASTIC_IP = "elastic_ip", "Elastic IP"
    EBS_VOLUME = "ebs_volume", "EBS volume"
    EBS_SNAPSHOT = "ebs_snapshot", "EBS snapshot"
    AMI = "ami", "AMI"


class WasteStatus(models.TextChoices):
    DETECTED = "DETECTED", "Detected"
    FLAGGED = "FLAGGED", "Flagged"
    SCHEDULED_DELETE = "SCHEDULED_DELETE", "Scheduled for deletion"
    DELETED = "DELETED", "Deleted"
    # Left the waste list: used again, or gone from AWS. The row stays with the reason.
    RESOLVED = "RESOLVED", "Resolved"
    # The customer keeps it (the `spotopt:waste = keep` tag, or the Exempt action): never flagged.
    EXEMPT = "EXEMPT", "Exempt"


class DeletionOutcome(models.TextChoices):
    """What the last approved deletion did with the resource."""

    NONE = "", "—"
    DELETED = "deleted", "Deleted"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
