"""What the Kubernetes API shows and takes: /api/v1/clusters/ and /api/v1/node-drains/. A registered token is
write-only: it is never part of an answer."""

from rest_framework import serializers

from .models import KubeCluster, NodeDrain


class ClusterAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    account_name = serializers.CharField(read_only=True)
    aws_account_id = serializers.CharField(read_only=True, allow_null=True)


class ClusterSerializer(serializers.ModelSerializer):
    account = ClusterAccountSerializer(read_only=True)
    has_token = serializers.BooleanField(read_only=True)
    has_ca = serializers.SerializerMethodField()

    class Meta:
        model = KubeCluster
        fields = [
            "id",
            "account",
            "name",
            "source",
            "region",
            "endpoint",
            "has_ca",
            "has_token",
            "state",
            "state_detail",
            "server_version",
            "checked_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_ca(self, cluster) -> bool:
        return bool(cluster.ca_pem)


class ClusterRegisterSerializer(serializers.Serializer):
    account = serializers.UUIDField(help_text="One of your accounts (its spotopt id).")
    name = serializers.CharField(max_length=100)
    endpoint = serializers.CharField(max_length=500, help_text="https://host[:port] of the API server.")
    ca_pem = serializers.CharField(help_text="The CA certificate that signed the API server's certificate (PEM).")
    token = serializers.CharField(
        write_only=True, help_text="A service-account token; stored encrypted, never returned."
    )


class DrainSerializer(serializers.ModelSerializer):
    account = ClusterAccountSerializer(read_only=True)
    cluster = serializers.UUIDField(source="cluster_id", read_only=True, allow_null=True)
    cluster_name = serializers.CharField(source="cluster.name", read_only=True, allow_null=True, default=None)
    instance = serializers.UUIDField(source="instance_id", read_only=True, allow_null=True)
    instance_id = serializers.CharField(source="ec2_instance_id", read_only=True)
    event = serializers.UUIDField(source="event_id", read_only=True, allow_null=True)
    switch = serializers.UUIDField(source="switch_id", read_only=True, allow_null=True)

    class Meta:
        model = NodeDrain
        fields = [
            "id",
            "account",
            "cluster",
            "cluster_name",
            "instance",
            "instance_id",
            "node_name",
            "trigger",
            "event",
            "switch",
            "dry_run",
            "status",
            "steps",
            "pods_total",
            "pods_evicted",
            "pods_left",
            "eviction_api",
            "error_message",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
