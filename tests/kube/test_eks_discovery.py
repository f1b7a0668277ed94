"""EKS clusters come with discovery (moto's EKS): endpoint and CA kept, a cluster gone from the account
removed, and a role without the EKS actions leaves discovery itself unharmed."""

import boto3
import pytest
from botocore.exceptions import ClientError

from fleet.services import account_discover
from kube.choices import ClusterSource
from kube.models import KubeCluster
from kube.services import cluster_for
from spotopt.errors import NotFound
from tests.fleet.conftest import REGION

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


def eks_cluster(name: str) -> dict:
    eks = boto3.client("eks", region_name=REGION)
    return eks.create_cluster(
        name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": []}
    )["cluster"]


def test_discovery_keeps_each_eks_clusters_endpoint_and_ca_and_forgets_deleted_ones(catalog_account):
    created = eks_cluster("shop")
    eks_cluster("batch")

    account_discover(account=catalog_account)

    clusters = {c.name: c for c in KubeCluster.objects.filter(account=catalog_account)}
    assert set(clusters) == {"shop", "batch"}
    shop = clusters["shop"]
    assert shop.source == ClusterSource.EKS and shop.region == REGION
    assert shop.endpoint == created["endpoint"] and not shop.has_token
    # moto's CA data is random bytes, not a certificate: kept as nothing rather than as garbage.
    assert created["certificateAuthority"]["data"] and shop.ca_pem == ""

    boto3.client("eks", region_name=REGION).delete_cluster(name="batch")
    account_discover(account=catalog_account)
    assert set(KubeCluster.objects.filter(account=catalog_account).values_list("name", flat=True)) == {"shop"}


def test_a_role_without_the_eks_actions_does_not_fail_discovery(catalog_account, monkeypatch):
    from kube import services

    def denied(**kwargs):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: eks:ListClusters"}},
            "ListClusters",
        )

    monkeypatch.setattr(services, "clusters_discover", denied)
    result = account_discover(account=catalog_account)

    assert result.succeeded
    catalog_account.refresh_from_db()
    errors = catalog_account.account_metadata["discovery"]["kubernetes_errors"]
    assert "eks:ListClusters" in errors[REGION]


def test_a_node_of_a_cluster_spotopt_does_not_know_says_what_to_do(catalog_account, make_instance):
    node = make_instance(catalog_account, cluster_membership={"cluster_name": "ghost"})
    with pytest.raises(NotFound, match="register a self-managed one"):
        cluster_for(node)


def test_clusters_of_one_name_in_two_regions_and_a_registered_one_are_kept_apart(catalog_account, make_instance):
    from kube.services import cluster_for

    east = KubeCluster.objects.create(
        account=catalog_account, name="prod", source=ClusterSource.EKS, region="us-east-1", endpoint="https://e"
    )
    west = KubeCluster.objects.create(
        account=catalog_account, name="prod", source=ClusterSource.EKS, region="us-west-2", endpoint="https://w"
    )
    node_west = make_instance(catalog_account, region="us-west-2", cluster_membership={"cluster_name": "prod"})
    node_east = make_instance(catalog_account, cluster_membership={"cluster_name": "prod"})
    assert cluster_for(node_west) == west and cluster_for(node_east) == east
    # Discovery refreshes one region's row and leaves the other region's alone.
    eks_cluster("prod")
    from kube.services import clusters_discover

    clusters_discover(account=catalog_account, region=REGION)
    west.refresh_from_db()
    assert west.endpoint == "https://w" and KubeCluster.objects.filter(name="prod").count() == 2
