"""Reads of clusters and drains, scoped to the user's accounts (another tenant's row is never there)."""

from django.db.models import Count, Max

from fleet.selectors import ACCOUNT_COLUMNS

from .models import KubeCluster, NodeDrain

CLUSTER_COLUMNS = [f.name for f in KubeCluster._meta.concrete_fields if f.name != "token_encrypted"]


def clusters_for(user):
    """The user's clusters with how many drains ran on each and when the last one started (one GROUP BY)."""
    return (
        KubeCluster.objects.for_user(user)
        .select_related("account")
        .only(*CLUSTER_COLUMNS, "token_encrypted", *(f"account__{column}" for column in ACCOUNT_COLUMNS))
        .annotate(drain_count=Count("drains"), last_drain_at=Max("drains__started_at"))
        .order_by("name", "id")
    )


def drains_for(user):
    return (
        NodeDrain.objects.for_user(user)
        .select_related("account", "cluster", "instance")
        .only(
            *(f.name for f in NodeDrain._meta.concrete_fields),
            *(f"account__{column}" for column in ACCOUNT_COLUMNS),
            "cluster__id",
            "cluster__name",
            "instance__id",
            "instance__instance_id",
        )
        .order_by("-started_at", "-id")
    )
