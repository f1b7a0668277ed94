"""The instance-type catalog (DescribeInstanceTypes / DescribeInstanceTypeOfferings against moto in-process)
and the compatible Spot pools of an instance.

moto (5.2.5) answers 1,395 instance types with real vCPU, memory, architecture and GPU data, the same list
in every region, in one page, in about 3 s; the tests that only need a catalog load the rows the first
refresh of the test process wrote (`catalog`), the refresh tests read moto each time.
"""

import boto3
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import ConnectionMethod
from fleet import catalog as catalog_module
from fleet.catalog import (
    catalog_refresh_all,
    compatible_instance_types,
    compatible_spot_pools,
    compatible_spot_pools_for,
    instance_type_catalog_refresh,
    instance_zones,
)
from fleet.models import Instance, InstanceTypeFacts, InstanceTypeOffering
from fleet.tasks import SCHEDULES
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT, moto  # noqa: F401
from tests.fleet.conftest import REGION

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


@pytest.fixture
def account(catalog_account):
    return catalog_account


def instance_of(account, make_instance, instance_type, zone="us-east-1a", **fields):
    architecture = InstanceTypeFacts.objects.get(region=REGION, instance_type=instance_type).architecture
    metadata = {"architecture": architecture, "subnet_id": "subnet-0abc", "vpc_id": "vpc-0abc"}
    instance = make_instance(
        account, instance_type=instance_type, availability_zone=zone, instance_metadata=metadata, **fields
    )
    return Instance.objects.select_related("account").get(pk=instance.pk)


def facts(name) -> InstanceTypeFacts:
    return InstanceTypeFacts.objects.get(region=REGION, instance_type=name)


def catalog_rows():
    """Every catalog row but when it was last confirmed."""
    return (
        sorted(InstanceTypeFacts.objects.values_list("pk", "instance_type", "vcpus", "memory_mib", "gpu_count")),
        sorted(InstanceTypeOffering.objects.values_list("pk", "availability_zone", "instance_type")),
    )


# --- refresh -------------------------------------------------------------------------------------------


def test_a_refresh_stores_every_type_with_its_facts_and_the_zones_offering_it(account):
    ec2 = boto3.client("ec2", region_name=REGION)
    listed = ec2.describe_instance_types()["InstanceTypes"]
    offered = ec2.describe_instance_type_offerings(LocationType="availability-zone")["InstanceTypeOfferings"]

    result = instance_type_catalog_refresh(account=account, region=REGION)

    assert result == {
        "region": REGION,
        "types": len(listed),
        "offerings": len(offered),
        "types_removed": 0,
        "offerings_removed": 0,
    }
    assert InstanceTypeFacts.objects.count() == len(listed) and InstanceTypeOffering.objects.count() == len(offered)
    m5 = facts("m5.large")
    assert (m5.vcpus, m5.memory_mib, m5.architectures, m5.architecture) == (2, 8192, ["x86_64"], "x86_64")
    assert (m5.gpu_count, m5.gpu_name, m5.instance_storage_gb, m5.burstable) == (0, "", 0, False)
    assert m5.supported_usage_classes == ["on-demand", "spot"] and m5.supports_spot
    assert not m5.current_generation  # moto says so (AWS lists m5 as current generation)
    assert facts("m7i.large").current_generation
    assert m5.network_performance == "Up to 10 Gigabit"
    gpu = facts("g4dn.12xlarge")
    assert (gpu.gpu_manufacturer, gpu.gpu_name, gpu.gpu_count, gpu.gpu_memory_mib) == ("NVIDIA", "T4", 4, 65536)
    assert (gpu.vcpus, gpu.instance_storage_gb) == (48, 900)
    assert facts("m6g.large").architecture == "arm64"
    assert facts("t3.large").burstable
    # A type that runs 32- and 64-bit images is searched by its 64-bit architecture.
    assert facts("t2.micro").architectures == ["i386", "x86_64"] and facts("t2.micro").architecture == "x86_64"
    zones = set(
        InstanceTypeOffering.objects.filter(instance_type="m5.large").values_list("availability_zone", flat=True)
    )
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"}  # moto: not 1e


def test_a_second_refresh_changes_nothing_and_removes_what_aws_no_longer_lists(account, django_assert_max_num_queries):
    instance_type_catalog_refresh(account=account, region=REGION)
    before = catalog_rows()

    again = instance_type_catalog_refresh(account=account, region=REGION)

    assert catalog_rows() == before  # same rows, same ids
    assert (again["types_removed"], again["offerings_removed"]) == (0, 0)

    # A type and an offering AWS stopped listing are removed, nothing else is; another region is untouched.
    stamp = facts("m5.large").refreshed_at
    InstanceTypeFacts.objects.create(
        region=REGION, instance_type="zz1.large", vcpus=2, memory_mib=8192, refreshed_at=stamp
    )
    InstanceTypeOffering.objects.create(
        region=REGION, availability_zone="us-east-1e", instance_type="m5.large", refreshed_at=stamp
    )
    InstanceTypeOffering.objects.create(
        region="eu-west-1", availability_zone="eu-west-1a", instance_type="m5.large", refreshed_at=stamp
    )
    # Set-based: ~7,800 rows in batched statements (up to 1,000 rows each; SQLite's parameter limit makes
    # them smaller there) and one delete each for types and offerings, never a statement per row.
    with django_assert_max_num_queries(100):
        third = instance_type_catalog_refresh(account=account, region=REGION)

    assert (third["types_removed"], third["offerings_removed"]) == (1, 1)
    assert not InstanceTypeFacts.objects.filter(instance_type="zz1.large").exists()
    assert not InstanceTypeOffering.objects.filter(availability_zone="us-east-1e", instance_type="m5.large").exists()
    assert InstanceTypeOffering.objects.filter(region="eu-west-1").count() == 1
    assert sorted(InstanceTypeOffering.objects.filter(region=REGION).values_list("pk", flat=True)) == sorted(
        pk for pk, _, _ in before[1]
    )


def test_the_daily_job_reads_each_region_once_and_goes_on_when_one_fails(account, make_account, make_user):
    # Created first, so the job tries it first: its keys cannot be decrypted (AWS is never asked).
    account.created_at = account.created_at.replace(year=2030)
    account.save(update_fields=["created_at"])
    broken = make_account(
        make_user(),
        connection_method=ConnectionMethod.ACCESS_KEYS,
        role_arn="",
        external_id=None,
        access_key_id_encrypted="not-a-ciphertext",
        secret_access_key_encrypted="not-a-ciphertext",
        regions=[REGION, "eu-west-2"],
    )
    make_account(make_user(), regions=[REGION], is_active=False)  # a removed account is never used

    results = catalog_refresh_all()

    assert set(results) == {REGION, "eu-west-2"}
    assert results[REGION]["types"] == InstanceTypeFacts.objects.filter(region=REGION).count() > 1000
    assert "error" in results["eu-west-2"] and broken.account_id in results["eu-west-2"]["error"]
    assert not InstanceTypeFacts.objects.filter(region="eu-west-2").exists()


def test_the_refresh_is_a_daily_periodic_job():
    (job,) = [job for job in SCHEDULES if job.name == "fleet.refresh-instance-types"]
    assert job.minutes == 24 * 60 and job.func == "fleet.tasks.refresh_instance_types"
    from fleet import tasks

    assert tasks.refresh_instance_types.__module__ == "fleet.tasks"


# --- compatible pools ----------------------------------------------------------------------------------


def expected_types(instance, *, allowed=(), denied=()):
    """The same answer computed in Python over the whole catalog: the test's oracle."""
    import fnmatch

    own = facts(instance.instance_type)
    rows = [
        row
        for row in InstanceTypeFacts.objects.filter(region=REGION)
        if row.supports_spot
        and row.architecture == own.architecture
        and row.vcpus >= own.vcpus
        and row.memory_mib >= own.memory_mib
        and (
            (row.gpu_manufacturer, row.gpu_name) == (own.gpu_manufacturer, own.gpu_name)
            and row.gpu_count >= own.gpu_count
            if own.gpu_count
            else row.gpu_count == 0
        )
        and (own.burstable or not row.burstable)
        and (not allowed or any(fnmatch.fnmatchcase(row.instance_type, p) for p in allowed))
        and not any(fnmatch.fnmatchcase(row.instance_type, p) for p in denied)
    ]
    rows.sort(key=lambda r: (r.vcpus, r.memory_mib, r.gpu_count, not r.current_generation, r.instance_type))
    return [row.instance_type for row in rows]


def test_a_standalone_m5_large_gets_the_closest_fits_offered_in_its_own_zone(account, catalog, make_instance):
    instance = instance_of(account, make_instance, "m5.large", zone="us-east-1a")

    pools = compatible_spot_pools(instance=instance, limit=None)

    offered = set(
        InstanceTypeOffering.objects.filter(availability_zone="us-east-1a").values_list("instance_type", flat=True)
    )
    assert pools == [(REGION, "us-east-1a", name) for name in expected_types(instance) if name in offered]
    # The closest fits first: 2 vCPUs and 8 GiB, current generation before older ones (moto calls m5 older).
    assert (facts(pools[0][2]).vcpus, facts(pools[0][2]).memory_mib, facts(pools[0][2]).current_generation) == (
        2,
        8192,
        True,
    )
    assert (REGION, "us-east-1a", "m5.large") in pools[:40]
    names = {name for _, _, name in pools}
    assert {"m5a.large", "m6i.large", "m5.xlarge"} <= names
    assert not {"c5.large", "t3.large", "m6g.large", "g4dn.xlarge"} & names  # 4 GiB; burstable; arm64; GPU
    for name in names:
        row = facts(name)
        assert row.architecture == "x86_64" and row.vcpus >= 2 and row.memory_mib >= 8192 and row.gpu_count == 0
    assert compatible_instance_types(instance=instance) == expected_types(instance)
    assert len(compatible_spot_pools(instance=instance)) == min(catalog_module.DEFAULT_POOL_LIMIT, len(pools))


def test_only_types_offered_in_the_instances_zone_are_pools(account, catalog, make_instance):
    # moto offers m5.large in every us-east-1 zone but 1e.
    instance = instance_of(account, make_instance, "m5.large", zone="us-east-1e")
    pools = compatible_spot_pools(instance=instance, limit=None)
    assert pools and {zone for _, zone, _ in pools} == {"us-east-1e"}
    assert (REGION, "us-east-1e", "m5.large") not in pools
    assert "m5.large" in compatible_instance_types(instance=instance)  # compatible, only not offered there


def test_a_gpu_instance_gets_the_same_gpu_kind_and_at_least_its_count(account, catalog, make_instance):
    small = instance_of(account, make_instance, "g4dn.xlarge")
    names = compatible_instance_types(instance=small)
    assert names == expected_types(small) and "g4dn.xlarge" in names[:3]
    assert "g4dn.12xlarge" in names
    assert {(facts(n).gpu_manufacturer, facts(n).gpu_name) for n in names} == {("NVIDIA", "T4")}
    assert not {"g5.xlarge", "g4ad.xlarge", "m5.xlarge"} & set(names)  # A10G, AMD, no GPU

    big = instance_of(account, make_instance, "g4dn.12xlarge")
    names = compatible_instance_types(instance=big)
    assert names == expected_types(big) and "g4dn.12xlarge" in names
    assert all(facts(n).gpu_count >= 4 and facts(n).vcpus >= 48 for n in names)
    assert "g4dn.xlarge" not in names
    assert {zone for _, zone, _ in compatible_spot_pools(instance=big)} == {"us-east-1a"}


def test_an_arm64_instance_gets_no_x86_candidates(account, catalog, make_instance):
    instance = instance_of(account, make_instance, "m6g.large")
    pools = compatible_spot_pools(instance=instance, limit=None)
    assert pools and ("us-east-1a", "m6g.large") in {(zone, name) for _, zone, name in pools}
    assert {facts(name).architecture for _, _, name in pools} == {"arm64"}
    assert compatible_instance_types(instance=instance) == expected_types(instance)


def test_the_accounts_allowed_and_denied_patterns_are_honoured(account, catalog, make_instance):
    account.allowed_instance_types = ["m5*.*", "c6i.large"]
    account.denied_instance_types = ["m5d*.*", "*.metal"]
    account.save()
    instance = instance_of(account, make_instance, "m5.large")

    names = compatible_instance_types(instance=instance)

    assert names == expected_types(instance, allowed=["m5*.*", "c6i.large"], denied=["m5d*.*", "*.metal"])
    assert {"m5.large", "m5a.large", "m5n.large", "m5.24xlarge"} <= set(names)
    assert all(name.startswith("m5") and not name.startswith("m5d") for name in names)
    assert not any(name.endswith(".metal") for name in names)
    assert "c6i.large" not in names  # allowed, but 4 GiB: still not compatible
    assert {name for _, _, name in compatible_spot_pools(instance=instance, limit=None)} <= set(names)
    # Explicit lists replace the account's; a pattern of one exact type allows just that type.
    assert compatible_instance_types(instance=instance, allowed=["m6i.large"], denied=[]) == ["m6i.large"]
    assert compatible_instance_types(instance=instance, allowed=[], denied=["*"]) == []
    assert "m5d.large" in compatible_instance_types(instance=instance, allowed=[], denied=[])


def test_an_auto_scaling_group_member_may_use_the_zones_of_the_groups_subnets(account, catalog, make_instance):
    ec2 = boto3.client("ec2", region_name=REGION)
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12345678", InstanceType="m5.large")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchConfigurationName="web",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=f"{subnets['us-east-1b']},{subnets['us-east-1c']}",
    )
    member = instance_of(
        account, make_instance, "m5.large", zone="us-east-1b", cluster_membership={"asg_name": "web-asg"}
    )

    assert instance_zones(instance=member) == ["us-east-1b", "us-east-1c"]
    pools = compatible_spot_pools(instance=member, limit=None)
    assert {zone for _, zone, _ in pools} == {"us-east-1b", "us-east-1c"}
    # Zones in name order within each type.
    assert pools[0][1] == "us-east-1b" and pools[1] == (REGION, "us-east-1c", pools[0][2])

    # A group AWS no longer knows: the instance's own zone.
    gone = instance_of(account, make_instance, "m5.large", zone="us-east-1d", cluster_membership={"asg_name": "gone"})
    assert instance_zones(instance=gone) == ["us-east-1d"]


def test_an_instance_type_the_catalog_does_not_know_has_no_pools(account, catalog, make_instance):
    instance = make_instance(account, instance_type="zz9.huge")
    assert compatible_spot_pools(instance=instance) == [] and compatible_instance_types(instance=instance) == []


def test_the_pool_search_is_a_fixed_number_of_queries_whatever_the_catalogs_size(account, catalog, make_instance):
    def queries(instance) -> int:
        instance = Instance.objects.get(pk=instance.pk)  # the account not loaded: the worst case
        with CaptureQueriesContext(connection) as captured:
            assert compatible_spot_pools(instance=instance)
        return len(captured)

    instance = instance_of(account, make_instance, "m5.large")
    full = queries(instance)
    # A much smaller catalog asks the same number of questions.
    InstanceTypeFacts.objects.exclude(instance_type__startswith="m5").delete()
    small = queries(instance)
    assert full == small <= 3


def test_the_batched_pool_search_answers_each_instance_as_the_single_one_in_queries_that_do_not_grow(
    account, catalog, make_account, make_user, make_instance, monkeypatch, django_assert_num_queries
):
    ec2 = boto3.client("ec2", region_name=REGION)
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12345678", InstanceType="m5.large")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchConfigurationName="web",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=f"{subnets['us-east-1b']},{subnets['us-east-1c']}",
    )
    # Another tenant, with its own allowed/denied types; its "web-asg" is not the first account's (AWS does
    # not know it there: its members keep their own zone).
    other = make_account(
        make_user(), regions=[REGION], allowed_instance_types=["m5*.*"], denied_instance_types=["*.metal"]
    )
    web = {"asg_name": "web-asg"}

    def mixed_set():
        return [
            instance_of(account, make_instance, "m5.large", zone="us-east-1a"),
            instance_of(account, make_instance, "m5.large", zone="us-east-1e"),
            instance_of(account, make_instance, "m5.large", zone="us-east-1b", cluster_membership=web),
            instance_of(account, make_instance, "m5.large", zone="us-east-1c", cluster_membership=web),
            instance_of(account, make_instance, "m5.large", zone="us-east-1d", cluster_membership={"asg_name": "gone"}),
            instance_of(account, make_instance, "g4dn.xlarge"),
            instance_of(account, make_instance, "m6g.large"),
            make_instance(account, instance_type="t2.micro", instance_metadata={"architecture": "i386"}),
            make_instance(account, instance_type="zz9.huge"),
            instance_of(other, make_instance, "m5.large", zone="us-east-1a"),
            instance_of(other, make_instance, "m5.large", zone="us-east-1b", cluster_membership=web),
        ]

    instances = mixed_set()
    for limit in (None, catalog_module.DEFAULT_POOL_LIMIT, 5):
        batched = compatible_spot_pools_for(instances, limit=limit)
        assert list(batched) == [i.pk for i in instances]
        for instance in instances:
            single = compatible_spot_pools(
                instance=instance,
                allowed=instance.account.allowed_instance_types,
                denied=instance.account.denied_instance_types,
                limit=limit,
            )
            assert batched[instance.pk] == single, (instance.instance_type, instance.availability_zone, limit)
    by_pk = compatible_spot_pools_for(instances, limit=None)
    assert {zone for _, zone, _ in by_pk[instances[2].pk]} == {"us-east-1b", "us-east-1c"}
    assert {zone for _, zone, _ in by_pk[instances[10].pk]} == {"us-east-1b"}  # the other tenant's own zone
    assert by_pk[instances[8].pk] == [] and by_pk[instances[0].pk] != by_pk[instances[9].pk]
    # Explicit lists replace every account's, as they do for one instance.
    explicit = compatible_spot_pools_for(instances, allowed=["m6i.*"], denied=[], limit=None)
    assert explicit[instances[9].pk] == compatible_spot_pools(
        instance=instances[9], allowed=["m6i.*"], denied=[], limit=None
    )

    # Three times the instances, the accounts not loaded (the worst case): the same queries, and the Auto
    # Scaling groups' zones read once per account and region, for all its groups.
    reads = []
    groups_zones = catalog_module._groups_zones
    monkeypatch.setattr(
        catalog_module,
        "_groups_zones",
        lambda account, region, names: (
            reads.append((account.pk, region, tuple(names))) or groups_zones(account, region, names)
        ),
    )
    expected_reads = sorted([(account.pk, REGION, ("gone", "web-asg")), (other.pk, REGION, ("web-asg",))])
    expected = compatible_spot_pools_for(instances)
    reads.clear()
    few = list(Instance.objects.filter(pk__in=[i.pk for i in instances]))
    # The accounts, the own types' facts, then one query per kind but for the zones: the nine instances
    # whose type is known ask five questions (four m5.large of the first account in different zones ask one).
    with django_assert_num_queries(2 + 5):
        answer = compatible_spot_pools_for(few)
    assert answer == expected and sorted(reads) == expected_reads
    for _ in range(2):
        instances += mixed_set()
    many = list(Instance.objects.filter(pk__in=[i.pk for i in instances]))
    reads.clear()
    with django_assert_num_queries(2 + 5):
        assert len(compatible_spot_pools_for(many)) == len(many) == 3 * len(few)
    assert sorted(reads) == expected_reads


def test_a_group_whose_subnet_is_gone_does_not_cost_the_accounts_other_groups_their_zones(
    account, catalog, make_instance
):
    ec2 = boto3.client("ec2", region_name=REGION)
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    doomed = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.200.0/24", AvailabilityZone="us-east-1f")["Subnet"]
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12345678", InstanceType="m5.large")
    for name, zones in (("web-asg", [subnets["us-east-1b"], subnets["us-east-1c"]]), ("broken", [doomed["SubnetId"]])):
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName="web",
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=0,
            VPCZoneIdentifier=",".join(zones),
        )
    ec2.delete_subnet(SubnetId=doomed["SubnetId"])  # DescribeSubnets of it now fails
    web = instance_of(account, make_instance, "m5.large", zone="us-east-1b", cluster_membership={"asg_name": "web-asg"})
    broken = instance_of(
        account, make_instance, "m5.large", zone="us-east-1d", cluster_membership={"asg_name": "broken"}
    )

    pools = compatible_spot_pools_for([web, broken], limit=None)

    assert {zone for _, zone, _ in pools[web.pk]} == {"us-east-1b", "us-east-1c"}
    assert {zone for _, zone, _ in pools[broken.pk]} == {"us-east-1d"}  # its own zone, as instance_zones says
    assert instance_zones(instance=broken) == ["us-east-1d"]
    for instance in (web, broken):
        assert pools[instance.pk] == compatible_spot_pools(instance=instance, limit=None)
