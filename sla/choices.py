from django.db import models


class DowntimeCause(models.TextChoices):
    EMERGENCY_SWITCH = "emergency_switch", "Emergency switch"
    NO_REPLICA = "no_replica", "No replica available"
    OPTIMIZER_FAILURE = "optimizer_failure", "Optimizer failure"
    WORKER_CRASH = "worker_crash", "Worker crash"
