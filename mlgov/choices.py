from django.db import models


class ModelStatus(models.TextChoices):
    CANDIDATE = "CANDIDATE", "Candidate"
    TESTING = "TESTING", "Testing"
    GRADUATED = "GRADUATED", "Graduated"
    ENABLED = "ENABLED", "Enabled"
    ARCHIVED = "ARCHIVED", "Archived"


class Decision(models.TextChoices):
    # The seeds name both HOLD and STAY for "keep the current instance"; STAY is stored as HOLD.
    SWITCH = "SWITCH", "Switch"
    HOLD = "HOLD", "Hold"
    FALLBACK_ONDEMAND = "FALLBACK_ONDEMAND", "Fall back to on-demand"
    FAILED = "FAILED", "Failed"
