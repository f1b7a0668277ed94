from django.db import models


class Lifecycle(models.TextChoices):
    SPOT = "spot", "Spot"
    ON_DEMAND = "on-demand", "On-demand"


class PipelineMode(models.TextChoices):
    CLUSTER = "CLUSTER", "Cluster"
    LINEAR = "LINEAR", "Linear"


class AuthStatus(models.TextChoices):
    AUTHORIZED = "AUTHORIZED", "Authorized"
    UNAUTHORIZED = "UNAUTHORIZED", "Unauthorized"
    FLAGGED = "FLAGGED", "Flagged"
    TERMINATED = "TERMINATED", "Terminated"


class OrchestratorType(models.TextChoices):
    KUBERNETES = "KUBERNETES", "Kubernetes"
    STANDALONE = "STANDALONE", "Standalone"
