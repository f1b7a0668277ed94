"""Fixtures of the Kubernetes tests: one real kube-apiserver + etcd per test session (demo.kube_local),
a kubelet stand-in per test (demo.kubelet, which says what it plays), and a registered cluster."""

import os

import pytest

from demo.kube_local import missing_reason, start_apiserver
from demo.kubelet import Kubelet
from kube.choices import ClusterSource
from kube.models import KubeCluster
from tests.aws_fixtures import moto  # noqa: F401  (the node tests use the fleet's moto fixtures)
from tests.fleet.conftest import catalog, catalog_account  # noqa: F401
from tests.fleet.test_execution import models  # noqa: F401


@pytest.fixture(scope="session")
def apiserver():
    reason = missing_reason()
    if reason:
        if os.environ.get("SPOTOPT_REQUIRE_KUBE") == "1":  # CI builds the server: a missing one is a failure
            pytest.fail(f"the Kubernetes tests need a real kube-apiserver: {reason}")
        pytest.skip(reason)
    server = start_apiserver()
    yield server
    server.stop()


@pytest.fixture
def kubelet(apiserver):
    helper = Kubelet(apiserver)
    helper.reset()
    yield helper
    helper.stop()
    helper.reset()


@pytest.fixture
def register_cluster(apiserver):
    def register(account, *, name="shop", token=None):
        cluster = KubeCluster(
            account=account,
            name=name,
            source=ClusterSource.REGISTERED,
            endpoint=apiserver.endpoint,
            ca_pem=apiserver.ca_pem,
        )
        cluster.set_token(token or apiserver.admin_token)
        cluster.save()
        return cluster

    return register
