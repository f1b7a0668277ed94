"""Discovery and rogue enforcement on large accounts: database time per 1,000 instances at two sizes.

    .venv/bin/python bench/discovery.py [--instances 10000] [--regions 1] [--rogue-instances 100000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/discovery.py

What it does:
1. Sets up Django (spotopt.settings) on a scratch database: a throwaway SQLite file, or, when DATABASE_URL
   names a server, a new database spotopt_bench_<random> on it (created, migrated and dropped again; the
   database DATABASE_URL names is never touched).
2. Starts moto (ThreadedMotoServer) on a free local port. For each of two sizes (a quarter of --instances,
   then --instances) it seeds a fresh AWS account with that many instances (authorized on-demand, EKS spot
   nodes, Karpenter spot nodes, untagged rogue ones), one reservation per instance as an Auto Scaling group
   launches them, so DescribeInstances pages hold 1,000 instances as real AWS pages do. (moto's RunInstances
   scans every instance of the region per instance launched, so the bench launches batches of 500 and then
   gives each instance its own reservation in moto's backend.)
3. Connects an account to it through an IAM role and runs account_discover twice (the first discovers
   everything; the second finds nothing changed), timing AWS calls (botocore's _make_api_call, moto's own
   work included: it answers in this process), the database (connection.execute_wrapper) and the rest.
4. On PostgreSQL, rogue enforcement over one account of a quarter of --rogue-instances, then of
   --rogue-instances (set-based SQL builds them: 4 % flagged 30 hours ago, 2 % of them now authorized, 6 %
   unauthorized): rogue_enforce twice (the first flags, re-authorizes and files the overdue termination
   requests; the second has nothing to do).
5. Prints the database time per 1,000 instances at both sizes, the ratio between them (1.0 is linear), and
   the first discovery's database time as a share of its AWS time.

Exit status 0 when every run succeeded, the second discovery changed no row, the database time per 1,000
instances at the larger size is within 1.5x of the smaller one's, and the first discovery's database time
is at most 10 % of its AWS time.
"""

import argparse
import secrets
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import moto_and_scratch_database

REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "eu-central-1", "ap-southeast-1", "us-east-2"]
LAUNCH_BATCH = 500
LINEAR_TOLERANCE = 1.5  # per-1,000 database time at the larger size over the smaller one's
DB_SHARE_OF_AWS = 0.10
SLOWEST_SHOWN = 3  # statements listed under each run's database time

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
    parser.add_argument("--instances", type=int, default=10_000, help="discovery's larger size (default 10000)")
    parser.add_argument(
        "--regions", type=int, default=1, choices=range(1, len(REGIONS) + 1), help="regions to spread them over"
    )
    parser.add_argument(
        "--rogue-instances",
        type=int,
        default=100_000,
        help="rogue enforcement's larger size (default 100000; 0 skips it; PostgreSQL only)",
    )
    args = parser.parse_args()
    if args.instances < 4:
        parser.error("--instances must be at least 4")
    if args.rogue_instances and args.rogue_instances < 4:
        parser.error("--rogue-instances must be 0 or at least 4")
    return args


# --- The AWS side --------------------------------------------------------------------------------------


def seed(moto_url: str, aws_account: str, total: int, regions: list[str]) -> float:
    """Launch `total` instances in `aws_account`, spread over `regions`, one reservation each; returns s."""
    import boto3

    started = time.perf_counter()
    creds = boto3.client("sts", region_name="us-east-1", endpoint_url=moto_url).assume_role(
        RoleArn=f"arn:aws:iam::{aws_account}:role/bench-seed", RoleSessionName="bench-seed"
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
            size = min(LAUNCH_BATCH, count - launched)
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
        one_reservation_per_instance(aws_account, region)
    return time.perf_counter() - started


def one_reservation_per_instance(aws_account: str, region: str) -> None:
    """Give every instance of the region its own reservation in moto's backend (moto pages DescribeInstances
    by reservations: a batch of 500 in one reservation would make pages of up to 500,000 instances)."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.instances import Reservation
    from moto.ec2.utils import random_reservation_id

    backend = ec2_backends[aws_account][region]
    split = {}
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            single = Reservation(reservation_id=random_reservation_id(), owner_id=reservation.owner_id)
            single.groups = list(reservation.groups)
            single.instances = [instance]
            split[single.id] = single
    backend.reservations.clear()
    backend.reservations.update(split)


# --- Measuring -----------------------------------------------------------------------------------------


class Meter:
    """Time and count of AWS API calls (botocore's _make_api_call) and of database queries."""

    def __init__(self):
        self.aws_seconds = 0.0
        self.aws_calls: dict[str, list[float]] = defaultdict(list)
        self.client_seconds = 0.0
        self.clients = 0
        self.db_seconds = 0.0
        self.queries = 0
        self.statements: list[tuple[float, str]] = []
        self.total = 0.0

    def _db(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.db_seconds += elapsed
            self.queries += 1
            self.statements.append((elapsed, sql))

    @property
    def rest(self) -> float:
        return self.total - self.aws_seconds - self.client_seconds - self.db_seconds

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
        started = time.perf_counter()
        try:
            with connection.execute_wrapper(self._db):
                yield self
        finally:
            self.total = time.perf_counter() - started
            BaseClient._make_api_call = real_call
            boto3.session.Session.client = real_client


@dataclass
class Run:
    label: str
    instances: int
    meter: Meter

    @property
    def db_ms_per_1000(self) -> float:
        return self.meter.db_seconds * 1000 / (self.instances / 1000)


def print_meter(meter: Meter) -> None:
    calls = ", ".join(
        f"{name} {len(times)} x {sum(times) / len(times):.2f} s" for name, times in sorted(meter.aws_calls.items())
    )
    print(f"  total            {meter.total:7.2f} s")
    if meter.aws_calls:
        print(f"  AWS calls        {meter.aws_seconds:7.2f} s   ({calls})")
        print(f"  AWS clients      {meter.client_seconds:7.2f} s   ({meter.clients} boto3 clients built)")
    print(f"  database         {meter.db_seconds:7.2f} s   ({meter.queries} queries)")
    for elapsed, sql in sorted(meter.statements, reverse=True)[:SLOWEST_SHOWN]:
        print(f"      {elapsed:6.3f} s  {' '.join(sql.split())[:150]}")
    print(f"  spotopt (rest)   {meter.rest:7.2f} s   (spotopt's own Python and the ORM)")


# --- Discovery -----------------------------------------------------------------------------------------


def discovery_at(size: int, number: int, moto_url: str, regions: list[str]) -> tuple[list[Run], bool]:
    """Seed an AWS account with `size` instances, discover it twice; returns the runs and whether all held."""
    from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
    from accounts.models import Account, User
    from fleet.models import Instance
    from fleet.services import account_discover

    aws_account = f"{210987654320 + number}"
    seconds = seed(moto_url, aws_account, size, regions)
    print(f"\n== discovery of {size:,} instances (AWS account {aws_account}; seeded in {seconds:.1f} s)")
    user = User.objects.create_user(
        username=f"bench-{number}", email=f"bench-{number}@example.com", password=None, role=Role.CLIENT
    )
    account = Account.objects.create(
        user=user,
        account_id=aws_account,
        account_name=f"Benchmark {number}",
        environment_type=EnvironmentType.PROD,
        connection_method=ConnectionMethod.IAM_ROLE,
        role_arn=f"arn:aws:iam::{aws_account}:role/SpotOptimizerCrossAccountRole",
        external_id=f"spot-optimizer-bench-{secrets.token_hex(8)}",
        region=regions[0],
        regions=regions,
        status=AccountStatus.CONNECTED,
    )
    runs, results = [], []
    for label in ("first discovery", "nothing changed"):
        meter = Meter()
        with meter.measuring():
            result = account_discover(account=account)
        print(
            f"\n{label}: {result.instances_found:,} instances in {len(result.instances_by_region)} region(s); "
            f"{result.created} created, {result.updated} updated, {result.deactivated} deactivated; "
            f"{result.flagged} flagged, {result.reauthorized} re-authorized"
        )
        print_meter(meter)
        if result.errors_by_region:
            print(f"  errors           {result.errors_by_region}")
        runs.append(Run(label, size, meter))
        results.append(result)
        if label == "first discovery":
            snapshot = list(Instance.objects.filter(account=account).order_by("instance_id").values())
    unchanged = snapshot == list(Instance.objects.filter(account=account).order_by("instance_id").values())
    print(f"  rows unchanged by the second run (every column, updated_at included): {'yes' if unchanged else 'NO'}")
    first, second = results
    ok = (
        first.instances_found == second.instances_found == size
        and not first.errors_by_region
        and not second.errors_by_region
        and (second.created, second.updated, second.deactivated) == (0, 0, 0)
        and unchanged
    )
    return runs, ok


# --- Rogue enforcement ---------------------------------------------------------------------------------


def rogue_at(size: int, number: int) -> tuple[list[Run], bool]:
    from fleet_estate import one_account

    from approvals.models import ApprovalRequest
    from fleet.services import rogue_enforce

    account = one_account(size, number=number)
    print(f"\n== rogue enforcement over one account of {size:,} instances")
    runs, outcomes = [], []
    for label in ("first pass", "nothing to do"):
        meter = Meter()
        with meter.measuring():
            flagged, reauthorized, filed = rogue_enforce(account=account)
        print(f"\n{label}: {flagged:,} flagged, {reauthorized:,} re-authorized, {filed:,} termination requests filed")
        print_meter(meter)
        runs.append(Run(label, size, meter))
        outcomes.append((flagged, reauthorized, filed))
    # The estate: every 50 instances, 1 overdue rogue, 3 to flag, 1 to re-authorize; 90 % active.
    active = [n for n in range(number * 1_000_000_000, number * 1_000_000_000 + size) if n % 10 != 9]
    expected = (
        sum(1 for n in active if n % 50 in (1, 2, 3)),
        sum(1 for n in active if n % 50 == 4),
        sum(1 for n in active if n % 50 == 0),
    )
    requests = ApprovalRequest.objects.filter(account=account).count()
    ok = outcomes == [expected, (0, 0, 0)] and requests == expected[2]
    if not ok:
        print(f"  expected {expected} then nothing; {requests} requests stored")
    return runs, ok


# --- The verdicts --------------------------------------------------------------------------------------


def linear(name: str, small: Run, large: Run) -> bool:
    ratio = large.db_ms_per_1000 / small.db_ms_per_1000 if small.db_ms_per_1000 else float("inf")
    holds = ratio <= LINEAR_TOLERANCE
    print(
        f"  {name:<34} {small.db_ms_per_1000:8.1f} ms at {small.instances:>9,}   "
        f"{large.db_ms_per_1000:8.1f} ms at {large.instances:>9,}   ratio {ratio:4.2f}  "
        f"{'linear' if holds else f'NOT LINEAR (target <= {LINEAR_TOLERANCE})'}"
    )
    return holds


def main() -> int:
    args = parse_args()
    regions = REGIONS[: args.regions]
    title = f"spotopt discovery and rogue-enforcement benchmark ({len(regions)} region(s): {', '.join(regions)})"
    with moto_and_scratch_database(title) as scratch:
        from django.db import connection

        ok = True
        discovery_runs = []
        for number, size in enumerate((args.instances // 4, args.instances)):
            runs, held = discovery_at(size, number, scratch.moto_url, regions)
            discovery_runs.append(runs)
            ok = ok and held
        rogue_runs = []
        if args.rogue_instances and connection.vendor == "postgresql":
            for number, size in enumerate((args.rogue_instances // 4, args.rogue_instances), start=1):
                runs, held = rogue_at(size, number)
                rogue_runs.append(runs)
                ok = ok and held
        elif args.rogue_instances:
            print("\nrogue enforcement: skipped (its estate is built with PostgreSQL's set-based SQL)")

        print("\n== database time per 1,000 instances")
        for index, label in enumerate(("discovery, first run", "discovery, nothing changed")):
            ok = linear(label, discovery_runs[0][index], discovery_runs[1][index]) and ok
        for index, label in enumerate(("rogue enforcement, first pass", "rogue enforcement, nothing to do")):
            if rogue_runs:
                ok = linear(label, rogue_runs[0][index], rogue_runs[1][index]) and ok
        first = discovery_runs[1][0].meter
        share = first.db_seconds / first.aws_seconds
        within = share <= DB_SHARE_OF_AWS
        print(
            f"  first discovery of {args.instances:,}: database {first.db_seconds:.2f} s = {share:.1%} of its AWS "
            f"time ({first.aws_seconds:.2f} s); {'within' if within else 'OVER'} the {DB_SHARE_OF_AWS:.0%} target"
        )
        return 0 if ok and within else 1


if __name__ == "__main__":
    sys.exit(main())
