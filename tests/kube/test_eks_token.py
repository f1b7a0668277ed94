"""The EKS bearer token: what `aws eks get-token` makes, checked against botocore's own presigning and by
decoding it; it appears in no log, error or cluster repr."""

import base64
import logging
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from freezegun import freeze_time

from kube.choices import ClusterSource
from kube.models import KubeCluster
from kube.services import access_for
from spotopt import kube

CREDENTIALS = {
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "aws_session_token": "FQoGZXIvYXdzEXAMPLESESSIONTOKEN",
}


def decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body  # base64url without padding
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def botocore_presigned(cluster_name: str, region: str) -> str:
    """The same URL made directly with botocore's presigner: the header signed in, as the EKS docs say."""
    sts = boto3.session.Session().client(
        "sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com", **CREDENTIALS
    )

    def add_header(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    return sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")


@freeze_time("2026-12-04 10:00:00")
def test_the_token_is_a_presigned_get_caller_identity_url_for_the_cluster():
    token = kube.eks_token(credentials=CREDENTIALS, cluster_name="shop", region="eu-west-1")
    url = decode(token)

    assert url == botocore_presigned("shop", "eu-west-1")
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert (parsed.scheme, parsed.netloc) == ("https", "sts.eu-west-1.amazonaws.com")
    assert query["Action"] == ["GetCallerIdentity"] and query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert query["X-Amz-Credential"][0].startswith("AKIAIOSFODNN7EXAMPLE/20261204/eu-west-1/sts/aws4_request")
    assert query["X-Amz-Security-Token"] == [CREDENTIALS["aws_session_token"]]
    # Another cluster name is another signature: the header is part of what is signed.
    other = decode(kube.eks_token(credentials=CREDENTIALS, cluster_name="other", region="eu-west-1"))
    assert parse_qs(urlparse(other).query)["X-Amz-Signature"] != query["X-Amz-Signature"]


@pytest.mark.django_db
def test_the_token_is_never_logged_stored_or_shown(make_user, make_account, monkeypatch, caplog):
    account = make_account(make_user())
    monkeypatch.setattr("spotopt.aws.credentials_for", lambda account: CREDENTIALS)
    cluster = KubeCluster.objects.create(
        account=account, name="shop", source=ClusterSource.EKS, region="us-east-1", endpoint="https://127.0.0.1:1"
    )
    caplog.set_level(logging.DEBUG)
    access = access_for(cluster)
    token = access.token()
    assert token.startswith("k8s-aws-v1.")
    with (
        pytest.raises(kube.KubeUnreachable) as refused,
        kube.kube_errors("read the nodes", access),
        kube.api_for(access) as api,
    ):
        api.version()
    assert token not in refused.value.message and token not in repr(access)
    assert token not in caplog.text and decode(token) not in caplog.text
    cluster.refresh_from_db()
    assert token not in str(KubeCluster.objects.filter(pk=cluster.pk).values().get())
