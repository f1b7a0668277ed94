"""A large fleet in the database, made in seconds with set-based SQL (PostgreSQL), for the benchmarks that
measure pages, the API and the fleet's background jobs at 100,000 to 1,000,000 instances.

Tenants: three customer teams (A with three accounts, B with two, C with one small one) and an admin; A's
accounts hold 60 % of the instances, B's 39 %, C's 1 % (a small tenant among large ones). 90 % of the
instances are active; a realistic mix of types, regions, AZs, lifecycles (30 % Spot), orchestrators (a
third Kubernetes), authorization (4 % flagged, 6 % unauthorized), Lab controls and metadata (tags, a Name,
cluster membership) of the size discovery writes.
"""

from dataclasses import dataclass

TYPES = ["m5.large", "m5.xlarge", "c5.large", "c5.xlarge", "r5.large", "t3.medium", "t3.large", "m6i.large"]
PRICES = ["0.096000", "0.192000", "0.085000", "0.170000", "0.126000", "0.041600", "0.083200", "0.096000"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"]
# (team, account name, share of the instances in percent)
ACCOUNTS = [
    ("A", "A production", 30),
    ("A", "A staging", 20),
    ("A", "A lab", 10),
    ("B", "B prod", 25),
    ("B", "B data", 14),
    ("C", "C small", 1),
]


@dataclass
class Estate:
    admin: object
    client_a: object
    client_b: object
    client_c: object
    accounts: list
    instances: int


def build_estate(instances: int) -> Estate:
    """Users, teams, accounts through the models, then `instances` instances with one INSERT … SELECT, then
    rogue enforcement (the product's service) on every account: it flags the untagged instances and files
    the overdue ones' termination requests, so the approvals list has rows too."""
    from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
    from accounts.models import Account, User

    admin = User.objects.create_user("bench-admin@example.com", "bench-admin", None, role=Role.ADMIN)
    client_a = User.objects.create_user("bench-a@example.com", "bench-a", None, role=Role.CLIENT, full_name="A")
    client_b = User.objects.create_user("bench-b@example.com", "bench-b", None, role=Role.CLIENT, full_name="B")
    client_c = User.objects.create_user("bench-c@example.com", "bench-c", None, role=Role.CLIENT, full_name="C")
    owners = {"A": client_a, "B": client_b, "C": client_c}
    accounts = []
    for n, (team, name, share) in enumerate(ACCOUNTS):
        accounts.append(
            (
                Account.objects.create(
                    user=owners[team],
                    account_id=f"{300000000000 + n}",
                    account_name=name,
                    environment_type=EnvironmentType.LAB if "lab" in name else EnvironmentType.PROD,
                    connection_method=ConnectionMethod.IAM_ROLE,
                    role_arn=f"arn:aws:iam::{300000000000 + n}:role/SpotOptimizerCrossAccountRole",
                    external_id=f"spot-optimizer-bench-{n}",
                    regions=REGIONS,
                    status=AccountStatus.ACTIVE,
                ),
                share,
            )
        )
    # Which account the n-th instance belongs to: consecutive ranges of the shares.
    bounds, start = [], 0
    for account, share in accounts:
        end = start + instances * share // 100
        bounds.append((account, start, end))
        start = end
    bounds[-1] = (bounds[-1][0], bounds[-1][1], instances)
    insert_instances(bounds)
    from fleet.services import rogue_enforce

    for account, _ in accounts:
        rogue_enforce(account=account)
    return Estate(admin, client_a, client_b, client_c, [account for account, _ in accounts], instances)


def one_account(instances: int, *, number: int):
    """A customer with one account holding `instances` instances (ids numbered from number * 10^9, so
    several such accounts never share an id); returns the account."""
    from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
    from accounts.models import Account, User

    owner = User.objects.create_user(f"bench-one-{number}@example.com", f"bench-one-{number}", None, role=Role.CLIENT)
    aws_id = f"{400000000000 + number}"
    account = Account.objects.create(
        user=owner,
        account_id=aws_id,
        account_name=f"One account {number}",
        environment_type=EnvironmentType.PROD,
        connection_method=ConnectionMethod.IAM_ROLE,
        role_arn=f"arn:aws:iam::{aws_id}:role/SpotOptimizerCrossAccountRole",
        external_id=f"spot-optimizer-bench-one-{number}",
        regions=REGIONS,
        status=AccountStatus.ACTIVE,
    )
    start = number * 1_000_000_000
    insert_instances([(account, start, start + instances)])
    return account


def insert_instances(bounds: list[tuple]) -> None:
    """Instances n = start … end - 1 of each (account, start, end), consecutive ranges, in one INSERT … SELECT.

    Every 50 instances: n % 50 = 0 is flagged rogue since 30 hours (no authorizing tag: overdue for a
    termination request), 1 to 3 are unauthorized (no authorizing tag: enforcement flags them), 4 is
    flagged although its tags now authorize it (enforcement re-authorizes it); the rest carry ManagedBy."""
    from django.db import connection

    case = " ".join(f"WHEN n < {end} THEN '{account.pk.hex}'::uuid" for account, _, end in bounds)
    types = ",".join(f"'{t}'" for t in TYPES)
    prices = ",".join(PRICES)
    regions = ",".join(f"'{r}'" for r in REGIONS)
    sql = f"""
    INSERT INTO fleet_instance (
        id, created_at, updated_at, account_id, instance_id, instance_type, availability_zone,
        region, lifecycle, assigned_model_version, pipeline_mode, is_shadow_mode, auth_status, flagged_at,
        cluster_membership, orchestrator_type, is_replica, is_active, last_evaluation, instance_metadata,
        hourly_price, price_source, search_text)
    SELECT
        gen_random_uuid(), now() - (n % 1000) * interval '1 hour', now(), (CASE {case} END),
        'i-' || lpad(to_hex(n), 17, '0'),
        (ARRAY[{types}])[1 + n % {len(TYPES)}],
        (ARRAY[{regions}])[1 + (n / 7) % {len(REGIONS)}] || (ARRAY['a','b','c'])[1 + n % 3],
        (ARRAY[{regions}])[1 + (n / 7) % {len(REGIONS)}],
        CASE WHEN n % 10 < 3 THEN 'spot' ELSE 'on-demand' END,
        '', CASE WHEN n % 17 = 0 THEN 'LINEAR' ELSE 'CLUSTER' END, n % 29 = 0,
        CASE WHEN n % 50 IN (0, 4) THEN 'FLAGGED' WHEN n % 50 IN (1, 2, 3) THEN 'UNAUTHORIZED'
             ELSE 'AUTHORIZED' END,
        CASE WHEN n % 50 IN (0, 4) THEN now() - interval '30 hours' END,
        CASE WHEN n % 3 = 0 THEN jsonb_build_object('cluster_name', 'prod-eks', 'node_group', 'ng-' || (n % 5))
             ELSE jsonb_build_object('asg_name', 'web-asg-' || (n % 40)) END,
        CASE WHEN n % 3 = 0 THEN 'KUBERNETES' ELSE 'STANDALONE' END,
        false, n % 10 <> 9, CASE WHEN n % 4 = 0 THEN now() - (n % 90) * interval '1 minute' END,
        jsonb_build_object(
            'state', 'running', 'name', 'web-' || n, 'launch_time', '2026-10-01T12:00:00+00:00',
            'tags', CASE WHEN n % 50 < 4 THEN jsonb_build_object('Name', 'web-' || n, 'Team', 'team-' || (n % 12))
                ELSE jsonb_build_object('Name', 'web-' || n, 'ManagedBy', 'SpotOptimizer', 'Team', 'team-' || (n % 12))
                END,
            'subnet_id', 'subnet-' || (n % 20), 'vpc_id', 'vpc-1',
            'private_ip', '10.0.' || (n % 250) || '.' || (n % 200),
            'image_id', 'ami-12345678', 'architecture', 'x86_64', 'platform', 'Linux/UNIX',
            'spot_price', CASE WHEN n % 10 < 3 THEN '0.031200' ELSE '' END),
        CASE WHEN n % 10 < 3 THEN 0.031200 WHEN n % 97 = 0 THEN NULL ELSE (ARRAY[{prices}])[1 + n % {len(TYPES)}] END,
        CASE WHEN n % 10 < 3 THEN 'spot_market' WHEN n % 97 = 0 THEN 'unknown' ELSE 'on_demand_list' END,
        'i-' || lpad(to_hex(n), 17, '0') || ' ' || (ARRAY[{types}])[1 + n % {len(TYPES)}] || ' web-' || n || ' '
            || CASE WHEN n % 3 = 0 THEN 'prod-eks ng-' || (n % 5) ELSE 'web-asg-' || (n % 40) END
    FROM generate_series({bounds[0][1]}::bigint, {bounds[-1][2] - 1}) AS n
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.execute("VACUUM ANALYZE fleet_instance")
        settle(cursor)


def settle(cursor) -> None:
    """Write the build's dirty pages out now (CHECKPOINT), so what is measured next does not pay for them.
    Needs a superuser (or pg_checkpoint); without one the measurement just includes that noise."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass
