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
