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
    # Back from an earlier fallback to a Spot pool that is safe again (its own decision, so the log shows it).
    RETURN_TO_SPOT = "RETURN_TO_SPOT", "Return to Spot"
    FAILED = "FAILED", "Failed"
