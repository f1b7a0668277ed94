"""The waste scan of a large account: total time, time in AWS calls, time in the database, query count.

    .venv/bin/python bench/waste_scan.py [--snapshots 5000] [--volumes 2000] [--amis 500]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/waste_scan.py

What it does:
1. Sets up Django on a scratch database (bench/common.py: a throwaway SQLite file, or a new database
   spotopt_bench_<random> on DATABASE_URL's server, dropped afterwards).
2. Starts moto (ThreadedMotoServer) on a free local port. For each of two sizes (a fifth of the counts, then
   the counts) it builds a fresh AWS account through the EC2 API: --volumes unattached volumes, --amis AMIs
   baked from one instance (each with its own snapshot), and snapshots of one volume up to --snapshots in
   all. Everything is made "now"; the scan runs 60 days later (its clock argument), so every volume, every
   snapshot not behind an AMI and every AMI is waste.
3. Connects an account through an IAM role and scans it twice with account_scan_waste (the first finds
   everything; the second changes nothing), timing AWS calls (botocore's _make_api_call, moto's own work
   included: it answers in this process: the emulator's call time is the floor), the database
   (connection.execute_wrapper) and the rest.
4. Prints both runs at both sizes, then the database time per 1,000 resources at each size and its ratio
   (1.0 is linear), and the queries per AWS page.

Exit status 0 when every scan found exactly the expected waste, the second changed nothing, the database time
per 1,000 resources at the larger size is within 1.5x of the smaller one's, and the queries of a scan do not
grow faster than its AWS pages (the pages real AWS answers the lists in, 1,000 items each: queries per page
at the larger size at most the smaller size's).
"""

import argparse
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import moto_and_scratch_database
from discovery import Meter, print_meter

REGION = "us-east-1"
LINEAR_TOLERANCE = 1.5
SCAN_DAYS_LATER = 60
PAGE = 1000  # items per Describe page (the scanner asks for MaxResults=1000)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=5000, help="snapshots in all, the AMIs' own included")
    parser.add_argument("--volumes", type=int, default=2000)
    parser.add_argument("--amis", type=int, default=500)
    args = parser.parse_args()
    if args.snapshots < args.amis + 5 or args.volumes < 5 or args.amis < 5:
        parser.error("need at least 5 volumes and AMIs, and more snapshots than AMIs")
    return args


def seed(moto_url: str, aws_account: str, *, volumes: int, amis: int, snapshots: int) -> float:
    """Build the account's idle estate through the EC2 API; returns the seconds it took."""
    import boto3

    started = time.perf_counter()
    creds = boto3.client("sts", region_name=REGION, endpoint_url=moto_url).assume_role(
        RoleArn=f"arn:aws:iam::{aws_account}:role/bench-seed", RoleSessionName="bench-seed"
    )["Credentials"]
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    volume_ids = [
        ec2.create_volume(Size=10 + n % 500, AvailabilityZone=f"{REGION}{'abc'[n % 3]}", VolumeType="gp3")["VolumeId"]
        for n in range(volumes)
    ]
    builder = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    for n in range(amis):
        ec2.create_image(InstanceId=builder, Name=f"bench-image-{n:05d}")
    for n in range(snapshots - amis):
        ec2.create_snapshot(VolumeId=volume_ids[n % len(volume_ids)], Description=f"bench {n}")
    return time.perf_counter() - started


def scan_at(number: int, moto_url: str, *, volumes: int, amis: int, snapshots: int):
    from django.utils import timezone

    from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
    from accounts.models import Account, User
    from waste.choices import WasteStatus
    from waste.models import WasteResource
    from waste.services import account_scan_waste

    aws_account = f"{310987654320 + number}"
    seconds = seed(moto_url, aws_account, volumes=volumes, amis=amis, snapshots=snapshots)
    resources = volumes + amis + snapshots
    print(
        f"\n== waste scan of {snapshots:,} snapshots, {volumes:,} volumes, {amis:,} AMIs "
        f"(AWS account {aws_account}; seeded in {seconds:.1f} s)"
    )
    user = User.objects.create_user(username=f"bench-{number}", email=f"b{number}@example.com", role=Role.CLIENT)
    account = Account.objects.create(
        user=user,
        account_id=aws_account,
        account_name=f"Benchmark {number}",
        environment_type=EnvironmentType.PROD,
        connection_method=ConnectionMethod.IAM_ROLE,
        role_arn=f"arn:aws:iam::{aws_account}:role/SpotOptimizerCrossAccountRole",
        external_id=f"spot-optimizer-bench-{secrets.token_hex(8)}",
        region=REGION,
        regions=[REGION],
        status=AccountStatus.CONNECTED,
    )
    later = timezone.now() + timedelta(days=SCAN_DAYS_LATER)
    # The builder instance's root volume is attached: not waste. The AMIs' snapshots are behind them.
    expected = volumes + (snapshots - amis) + amis
    runs, ok = [], True
    for label in ("first scan", "nothing changed"):
        meter = Meter()
        with meter.measuring():
            result = account_scan_waste(account=account, now=later)
        live = WasteResource.objects.filter(account=account, status=WasteStatus.DETECTED).count()
        print(
            f"\n{label}: {result.found:,} idle ({sum(r.new for r in result.regions.values()):,} new), "
            f"{result.left} left the list, ${result.monthly_cost:,.2f}/month; {result.aws_calls} AWS calls"
        )
        print_meter(meter)
        if result.errors:
            print(f"  errors           {result.errors}")
        held = result.found == live == expected and not result.errors and result.left == 0
        if label == "nothing changed":
            held = held and sum(r.new for r in result.regions.values()) == 0
        if not held:
            print(f"  expected {expected:,} idle resources; {live:,} stored")
        ok = ok and held
        # The pages real AWS answers these lists in (1,000 items a page; moto answers each in one): one page
        # each for the addresses, instances, launch templates and configurations, and the volumes',
        # snapshots' and images' pages.
        pages = 4 + sum(-(-count // PAGE) for count in (volumes, snapshots, amis))
        runs.append((label, resources, meter, pages))
    return runs, ok


def main() -> int:
    args = parse_args()
    with moto_and_scratch_database("spotopt waste-scan benchmark", region=REGION) as scratch:
        sizes = [
            {"volumes": args.volumes // 5, "amis": args.amis // 5, "snapshots": args.snapshots // 5},
            {"volumes": args.volumes, "amis": args.amis, "snapshots": args.snapshots},
        ]
        all_runs, ok = [], True
        for number, size in enumerate(sizes):
            runs, held = scan_at(number, scratch.moto_url, **size)
            all_runs.append(runs)
            ok = ok and held
        print("\n== database time per 1,000 resources, and queries per AWS page")
        for index in range(2):
            (label, small_n, small, small_pages), (_, large_n, large, large_pages) = (
                all_runs[0][index],
                all_runs[1][index],
            )
            small_ms = small.db_seconds * 1000 / (small_n / 1000)
            large_ms = large.db_seconds * 1000 / (large_n / 1000)
            ratio = large_ms / small_ms if small_ms else float("inf")
            per_page_small, per_page_large = small.queries / small_pages, large.queries / large_pages
            linear = ratio <= LINEAR_TOLERANCE
            bounded = per_page_large <= per_page_small
            print(
                f"  {label:<16} {small_ms:7.1f} ms at {small_n:>6,}  {large_ms:7.1f} ms at {large_n:>6,}  "
                f"ratio {ratio:4.2f} {'linear' if linear else 'NOT LINEAR'};  queries/page "
                f"{small.queries}/{small_pages} = {per_page_small:.2f} -> {large.queries}/{large_pages} = "
                f"{per_page_large:.2f} {'bounded' if bounded else 'GROWS FASTER THAN PAGES'}"
            )
            ok = ok and linear and bounded
            share = large.db_seconds / large.aws_seconds if large.aws_seconds else 0
            print(
                f"  {'':<16} database {large.db_seconds:.2f} s = {share:.1%} of the AWS time {large.aws_seconds:.2f} s"
            )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
