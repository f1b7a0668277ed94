from django.db import models


class ClusterSource(models.TextChoices):
    EKS = "EKS", "EKS (found by discovery)"
    REGISTERED = "REGISTERED", "Registered (self-managed)"


class ClusterState(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    REACHABLE = "reachable", "Reachable"
    LIMITED = "limited", "Reachable, permissions missing"
    UNREACHABLE = "unreachable", "Unreachable"


class DrainTrigger(models.TextChoices):
    TERMINATION_NOTICE = "TERMINATION_NOTICE", "Interruption warning"
    REBALANCE_NOTICE = "REBALANCE_NOTICE", "Rebalance recommendation"
    SWITCH = "SWITCH", "Optimizer switch"


class DrainStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    DRAINED = "DRAINED", "Drained"
    INCOMPLETE = "INCOMPLETE", "Incomplete (deadline)"
    NODE_NOT_FOUND = "NODE_NOT_FOUND", "Node not in the cluster"
    FAILED = "FAILED", "Failed"
    DRY_RUN = "DRY_RUN", "Dry run (nothing written)"
