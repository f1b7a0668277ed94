"""Filters of the drains list (page and API alike)."""

import django_filters

from .choices import DrainStatus, DrainTrigger
from .models import NodeDrain


class DrainFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DrainStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=DrainTrigger.choices)
    cluster = django_filters.UUIDFilter(field_name="cluster_id", label="Cluster (id)")
    instance_id = django_filters.CharFilter(field_name="ec2_instance_id", label="EC2 instance id")

    class Meta:
        model = NodeDrain
        fields = ["status", "trigger", "cluster", "instance_id"]
