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


class PriceSource(models.TextChoices):
    """Where an instance's hourly price comes from (pages say which prices are list prices)."""

    ON_DEMAND_LIST = "on_demand_list", "On-demand list price"
    SPOT_MARKET = "spot_market", "Latest Spot price of its pool"
    UNKNOWN = "unknown", "Not known"


class MarketSource(models.TextChoices):
    """Where a market figure came from (pages say so: the demo's Spot history is synthetic)."""

    AWS = "aws", "AWS"
    PRICING_API = "pricing_api", "AWS Pricing API"
    CATALOG = "catalog", "Shipped list-price catalog"
    ADVISOR = "advisor", "Spot Instance Advisor"
    SYNTHETIC = "synthetic", "Synthetic (demo)"


class SwitchStatus(models.TextChoices):
    """Where one execution of an optimizer decision stands (fleet.models.SWITCH_STATUS_TRANSITIONS)."""

    AWAITING_APPROVAL = "AWAITING_APPROVAL", "Awaiting approval"
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    ROLLED_BACK = "ROLLED_BACK", "Rolled back"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


class SwitchOutcome(models.TextChoices):
    """How a finished Spot switch turned out: interrupted within 24 h is a failure (the models learn it)."""

    PENDING = "PENDING", "Not settled yet"
    SUCCESS = "SUCCESS", "Success"
    FAILURE = "FAILURE", "Interrupted within 24 h"
    NOT_APPLICABLE = "NOT_APPLICABLE", "Not applicable"
