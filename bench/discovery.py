"""Discovery benchmark: how long `account_discover` takes on a large estate, and where the time goes.

    .venv/bin/python bench/discovery.py [--instances 2000] [--regions 1]

What it does:
1. Sets up Django (spotopt.settings) on a scratch database: a throwaway SQLite file in a temporary
   directory, or, when DATABASE_URL is given, a new database named spotopt_bench_<random> on that server
   (created, migrated and dropped again; the database DATABASE_URL names is never touched).
2. Starts moto (moto.server.ThreadedMotoServer) on a free local port and seeds N instances into one
   customer AWS account, spread over the regions, in batches (RunInstances with MaxCount up to 500): a mix
   of authorized on-demand, EKS spot nodes, Karpenter spot nodes and untagged (rogue) instances.
3. Creates a connected account reaching that AWS account through an IAM role, runs account_discover twice
   (the first discovers everything; the second finds nothing changed) and prints for each run the total
   time, the time spent in AWS calls (every botocore API call, request and parsing included), the time
   spent in the database (connection.execute_wrapper) and the number of queries.

moto runs in this process, so "AWS" time includes moto's own work answering the calls; against real AWS
that part is network and AWS's latency instead. Exit status 0 when both runs succeeded and the second
changed nothing.
"""

import argparse
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

BENCH_AWS_ACCOUNT = "210987654321"
ROLE_ARN = f"arn:aws:iam::{BENCH_AWS_ACCOUNT}:role/SpotOptimizerCrossAccountRole"
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "eu-central-1", "ap-southeast-1", "us-east-2"]
MAX_BATCH = 500

# What each launch batch looks like, in turn: (instance type, spot, tags).
PROFILES = [
    ("m5.large", False, {"ManagedBy": "SpotOptimizer", "Team": "web"}),
    (
        "c5.large",
        True,
        {"eks:cluster-name": "prod", "eks:nodegroup-name": "ng-spot", "kubernetes.io/cluster/prod": "owned"},
    ),
    (
        "m5.xlarge",
        True,
        {"karpenter.sh/nodepool": "default", "kubernetes.io/cluster/prod": "owned", "ManagedBy": "SpotOptimizer"},
    ),
    ("t3.micro", False, {}),  # rogue: flagged by the first discovery
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000, help="instances in total (default 2000)")
    parser.add_argument(
        "--regions", type=int, default=1, choices=range(1, len(REGIONS) + 1), help="regions to spread them over"
    )
    args = parser.parse_args()
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure_environment(tmp: Path, moto_url: str) -> str:
    """Environment for spotopt.settings; returns a description of the database used."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "spotopt.settings"
    os.environ["SPOTOPT_VAR_DIR"] = str(tmp)
    os.environ["AWS_ENDPOINT_URL"] = moto_url
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ["PLATFORM_AWS_PRINCIPAL_ARN"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    if os.environ.get("DATABASE_URL"):
        return "scratch database on DATABASE_URL's server"
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    return "throwaway SQLite"


@contextmanager
def scratch_database(tmp: Path, given_url: bool):
    """Migrate a scratch database; drop it afterwards. The database DATABASE_URL names is never used."""
    from django.core.management import call_command
    from django.db import connection

    if not given_url:
        call_command("migrate", verbosity=0, interactive=False)
        yield connection.settings_dict["NAME"]
        return
    original = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        scratch = str(tmp / "bench-scratch.sqlite3")
    else:
        scratch = f"spotopt_bench_{secrets.token_hex(4)}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = scratch
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    assert connection.settings_dict["NAME"] == scratch != original
    try:
        yield scratch
    finally:
        connection.close()
        connection.creation.destroy_test_db(original, verbosity=0, keepdb=False)


def seed(moto_url: str, total: int, regions: list[str]) -> tuple[int, float]:
    """Launch `total` instances in the bench AWS account, spread over `regions`; returns (launch calls, s)."""
    import boto3

    started = time.perf_counter()
    creds = boto3.client("sts", region_name="us-east-1", endpoint_url=moto_url).assume_role(
        RoleArn=f"arn:aws:iam::{BENCH_AWS_ACCOUNT}:role/bench-seed", RoleSessionName="bench-seed"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    calls = 0
    per_region = [total // len(regions) + (1 if i < total % len(regions) else 0) for i in range(len(regions))]
    for region, count in zip(regions, per_region, strict=True):
        ec2 = session.client("ec2", region_name=region, endpoint_url=moto_url)
        launched = 0
        while launched < count:
            size = min(MAX_BATCH, count - launched)
            instance_type, spot, tags = PROFILES[calls % len(PROFILES)]
            kwargs = {
                "ImageId": "ami-12345678",
                "MinCount": size,
                "MaxCount": size,
                "InstanceType": instance_type,
                "Placement": {"AvailabilityZone": f"{region}{'abc'[calls % 3]}"},
            }
            if tags:
                tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
                kwargs["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_list}]
            if spot:
                kwargs["InstanceMarketOptions"] = {"MarketType": "spot"}
            ec2.run_instances(**kwargs)
            launched += size
            calls += 1
    return calls, time.perf_counter() - started


class Meter:
    """Time and count of AWS API calls (botocore's _make_api_call) and of database queries."""

    def __init__(self):
        self.aws_seconds = 0.0
        self.aws_calls: dict[str, list[float]] = defaultdict(list)
        self.client_seconds = 0.0
        self.clients = 0
        self.db_seconds = 0.0
        self.queries = 0

    def _db(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.db_seconds += time.perf_counter() - started
            self.queries += 1

    @contextmanager
    def measuring(self):
        import boto3
        from botocore.client import BaseClient
        from django.db import connection

        real_call = BaseClient._make_api_call
        real_client = boto3.session.Session.client
        meter = self

        def timed_client(session, *args, **kwargs):
            started = time.perf_counter()
            try:
                return real_client(session, *args, **kwargs)
            finally:
                meter.client_seconds += time.perf_counter() - started
                meter.clients += 1

        def timed_call(client, operation_name, api_params):
            started = time.perf_counter()
            try:
                return real_call(client, operation_name, api_params)
            finally:
                elapsed = time.perf_counter() - started
                meter.aws_seconds += elapsed
                meter.aws_calls[operation_name].append(elapsed)

        BaseClient._make_api_call = timed_call
        boto3.session.Session.client = timed_client
        try:
            with connection.execute_wrapper(self._db):
                yield self
        finally:
            BaseClient._make_api_call = real_call
            boto3.session.Session.client = real_client


def discover(account, label: str) -> tuple[object, Meter, float]:
    from fleet.services import account_discover

    meter = Meter()
    with meter.measuring():
        started = time.perf_counter()
        result = account_discover(account=account)
        total = time.perf_counter() - started
    calls = ", ".join(
        f"{name} {len(times)} x {sum(times) / len(times):.2f} s" for name, times in sorted(meter.aws_calls.items())
    )
    other = total - meter.aws_seconds - meter.client_seconds - meter.db_seconds
    print(f"\n{label}: {result.instances_found} instances in {len(result.instances_by_region)} region(s)")
    print(
        f"  changes          {result.created} created, {result.updated} updated, {result.deactivated} deactivated; "
        f"{result.flagged} flagged, {result.reauthorized} re-authorized"
    )
    print(f"  total            {total:7.2f} s")
    print(f"  AWS calls        {meter.aws_seconds:7.2f} s   ({calls})")
    print(f"  AWS clients      {meter.client_seconds:7.2f} s   ({meter.clients} boto3 clients built)")
    print(f"  database         {meter.db_seconds:7.2f} s   ({meter.queries} queries)")
    print(f"  spotopt (rest)   {other:7.2f} s   (mapping instances, comparing rows, ORM)")
    if result.errors_by_region:
        print(f"  errors           {result.errors_by_region}")
    return result, meter, total


def main() -> int:
    args = parse_args()
    given_url = bool(os.environ.get("DATABASE_URL"))
    tmp = Path(tempfile.mkdtemp(prefix="spotopt-bench-"))
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # before moto loads: faster start
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    try:
        database_kind = configure_environment(tmp, moto_url)
        import django

        django.setup()
        from django.conf import settings

        # Production runs with DEBUG off: Django then keeps no in-memory log of every query.
        settings.DEBUG = False
        regions = REGIONS[: args.regions]
        with scratch_database(tmp, given_url) as database_name:
            from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
            from accounts.models import Account, User
            from fleet.models import Instance

            print(
                f"spotopt discovery benchmark: {args.instances} instances in {len(regions)} region(s) "
                f"({', '.join(regions)})"
            )
            print(f"  database: {database_kind} ({connection_vendor()}: {database_name})")
            print(f"  AWS: moto server at {moto_url}")
            launches, seconds = seed(moto_url, args.instances, regions)
            print(f"  seeded {args.instances} instances with {launches} RunInstances calls in {seconds:.1f} s")

            user = User.objects.create_user(
                username="bench", email="bench@example.com", password=None, role=Role.CLIENT
            )
            account = Account.objects.create(
                user=user,
                account_id=BENCH_AWS_ACCOUNT,
                account_name="Benchmark",
                environment_type=EnvironmentType.PROD,
                connection_method=ConnectionMethod.IAM_ROLE,
                role_arn=ROLE_ARN,
                external_id=f"spot-optimizer-bench-{secrets.token_hex(8)}",
                region=regions[0],
                regions=regions,
                status=AccountStatus.CONNECTED,
            )
            first, _, _ = discover(account, "run 1 (first discovery)")
            snapshot = list(Instance.objects.order_by("instance_id").values())  # every column of every row
            second, _, _ = discover(account, "run 2 (nothing changed)")
            unchanged = snapshot == list(Instance.objects.order_by("instance_id").values())
            print(f"\n  rows unchanged by run 2 (every column, updated_at included): {'yes' if unchanged else 'NO'}")
            ok = (
                first.instances_found == second.instances_found == args.instances
                and not first.errors_by_region
                and not second.errors_by_region
                and (second.created, second.updated, second.deactivated) == (0, 0, 0)
                and unchanged
            )
            return 0 if ok else 1
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    sys.exit(main())
