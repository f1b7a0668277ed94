from django.db import models


class RiskEventType(models.TextChoices):
    REBALANCE_NOTICE = "rebalance_notice", "Rebalance recommendation"
    TERMINATION_NOTICE = "termination_notice", "Interruption (termination) notice"
