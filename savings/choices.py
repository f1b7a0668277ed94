from django.db import models


class MoveKind(models.TextChoices):
    SWITCH = "switch", "Optimizer switch"
    FALLBACK = "fallback", "Fallback to on-demand"
    RETURN = "return", "Return to Spot"
    REPLICA = "replica", "Replica standing by"
    REPLACEMENT = "replacement", "Replacement after an interruption"


class PriceBasis(models.TextChoices):
    LIST = "list", "On-demand list price"
    MEASURED = "measured", "Measured Spot price (price history)"
    RECORDED = "recorded", "Price recorded at the move"
