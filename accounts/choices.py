from django.db import models


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", "Super admin"
    ADMIN = "admin", "Admin"
    CLIENT = "client", "Client"
    USER = "user", "User (read-only)"
    LAB = "lab", "Lab"


class EnvironmentType(models.TextChoices):
    PROD = "PROD", "Production"
    LAB = "LAB", "Lab"


class ConnectionMethod(models.TextChoices):
    IAM_ROLE = "iam_role", "IAM role (CloudFormation)"
    ACCESS_KEYS = "access_keys", "Access keys"


class AccountStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONNECTED = "connected", "Connected"
    ACTIVE = "active", "Active"
    FAILED = "failed", "Failed"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"
