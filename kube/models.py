"""Kubernetes clusters spotopt can reach, and the drains it ran on their nodes.

A KubeCluster belongs to one account: EKS clusters are found by discovery (endpoint and CA from
DescribeCluster; the token is made from the account's AWS session for each operation, never stored); a
self-managed cluster is registered with its API URL, CA and a service-account token, kept encrypted like
access keys and never shown again. A NodeDrain is one taint + cordon + drain of a node, with every step.
"""

from django.db import models

from accounts.models import Account
from spotopt import crypto
from spotopt.db import TimestampedModel, choices_check, non_negative
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import ClusterSource, ClusterState, DrainStatus, DrainTrigger


class KubeClusterQuerySet(TenantQuerySet):
    account_path = "account"


class KubeCluster(TimestampedModel):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="kube_clusters")
    name = models.CharField(max_length=100)
    source = models.CharField(max_length=12, choices=ClusterSource.choices)
    region = models.CharField(max_length=32, blank=True)
    endpoint = models.URLField(max_length=500)
    ca_pem = models.TextField(blank=True, help_text="The cluster's CA certificate (PEM); public data.")
    token_encrypted = models.TextField(blank=True)  # REGISTERED only
    state = models.CharField(max_length=12, choices=ClusterState.choices, default=ClusterState.UNKNOWN)
    state_detail = models.TextField(blank=True)  # why it is unreachable and what to grant
    checked_at = models.DateTimeField(null=True, blank=True)
    server_version = models.CharField(max_length=40, blank=True)

    objects = KubeClusterQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # EKS names are unique per region (two regions may both have "prod"); registered ones have no region.
            models.UniqueConstraint(fields=["account", "region", "name"], name="kube_cluster_unique_name"),
            choices_check("source", ClusterSource, name="kube_cluster_source_valid"),
            choices_check("state", ClusterState, name="kube_cluster_state_valid"),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_source_display()})"

    def _context(self) -> str:
        return f"kube.KubeCluster:{self.pk}:token"

    def set_token(self, token: str) -> None:
        self.token_encrypted = crypto.encrypt(token, context=self._context())

    def get_token(self) -> str:
        return crypto.decrypt(self.token_encrypted, context=self._context())

    @property
    def has_token(self) -> bool:
        return bool(self.token_encrypted)


# RUNNING ends once: drained, incomplete at the deadline (what was left is recorded), the node was not in the
# cluster, failed (the cluster refused), or a dry run that wrote nothing.
DRAIN_STATUS_TRANSITIONS = TransitionTable(
    "Node drain status",
    DrainStatus,
    {
        DrainStatus.RUNNING: {
            DrainStatus.DRAINED,
            DrainStatus.INCOMPLETE,
            DrainStatus.NODE_NOT_FOUND,
            DrainStatus.FAILED,
            DrainStatus.DRY_RUN,
        },
        DrainStatus.DRAINED: set(),
        DrainStatus.INCOMPLETE: set(),
        DrainStatus.NODE_NOT_FOUND: set(),
        DrainStatus.FAILED: set(),
        DrainStatus.DRY_RUN: set(),
    },
)


class NodeDrainQuerySet(TenantQuerySet):
    account_path = "account"


class NodeDrain(TimestampedModel):
    """One taint + cordon + drain of a Kubernetes node, for an interruption event or an optimizer switch."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="node_drains")
    cluster = models.ForeignKey(KubeCluster, on_delete=models.SET_NULL, null=True, blank=True, related_name="drains")
    instance = models.ForeignKey(
        "fleet.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="node_drains"
    )
    ec2_instance_id = models.CharField(max_length=32)  # kept when the instance row goes
    node_name = models.CharField(max_length=253, blank=True)
    trigger = models.CharField(max_length=20, choices=DrainTrigger.choices)
    event = models.ForeignKey(
        "risk.GlobalRiskEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="node_drains"
    )
    switch = models.ForeignKey(
        "fleet.Switch", on_delete=models.SET_NULL, null=True, blank=True, related_name="node_drains"
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=DrainStatus.choices, default=DrainStatus.RUNNING)
    # [{step, at, detail}], in order: the timeline on the instance's page.
    steps = models.JSONField(default=list, blank=True)
    pods_total = models.PositiveIntegerField(default=0)  # evictable pods found on the node
    pods_evicted = models.PositiveIntegerField(default=0)  # of those, gone from the node by the end
    pods_left = models.JSONField(default=list, blank=True)  # [{namespace, name, why}]
    eviction_api = models.CharField(max_length=20, blank=True)  # policy/v1 or policy/v1beta1
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = NodeDrainQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["account", "-started_at", "-id"], name="drain_account_recent"),
            models.Index(fields=["instance", "-started_at"], name="drain_instance_recent"),
        ]
        constraints = [
            choices_check("status", DrainStatus, name="drain_status_valid"),
            choices_check("trigger", DrainTrigger, name="drain_trigger_valid"),
            non_negative("pods_total", name="drain_pods_total_non_negative"),
            models.CheckConstraint(
                condition=models.Q(pods_evicted__lte=models.F("pods_total")), name="drain_evicted_at_most_total"
            ),
        ]

    def __str__(self):
        return f"drain of {self.node_name or self.ec2_instance_id} ({self.get_status_display()})"

    def move_to(self, status: str) -> None:
        transition(self, "status", DRAIN_STATUS_TRANSITIONS, status)
