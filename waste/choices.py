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
