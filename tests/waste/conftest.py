"""An AWS account (moto) with exactly known waste and non-waste, for the scanner and the lifecycle tests.

moto stamps creation times with the real clock, so "old" resources are made inside freezegun's
freeze_time in the past (moto reads the frozen clock); the scan then runs at the real now.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from tests.aws_fixtures import CUSTOMER_ACCOUNT, REGION, ROLE_ARN, customer_session, moto  # noqa: F401

BASE_IMAGE = "ami-12c6146b"  # not the account's own (moto launches from any id)
OTHER_ACCOUNT = "444455556666"


@dataclass
class Estate:
    ec2: object
    autoscaling: object
    ids: dict  # name -> AWS id

    def __getitem__(self, name):
        return self.ids[name]

    def tag(self, name: str) -> str | None:
        """The resource's spotopt:waste tag in AWS, or None."""
        answer = self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [self.ids[name]]}])["Tags"]
        return next((t["Value"] for t in answer if t["Key"] == "spotopt:waste"), None)


def _image(ec2, instance_id: str, name: str) -> str:
    return ec2.create_image(InstanceId=instance_id, Name=name)["ImageId"]


def build_estate() -> Estate:
    session = customer_session(CUSTOMER_ACCOUNT)
    ec2, autoscaling = session.client("ec2", region_name=REGION), session.client("autoscaling", region_name=REGION)
    ids = {}
    now = timezone.now()
    with freeze_time(now - timedelta(days=60)):
        builder = ec2.run_instances(ImageId=BASE_IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.micro")
        ids["builder"] = builder["Instances"][0]["InstanceId"]
        # Waste: an address nobody uses, a volume unattached for 60 days, a snapshot nothing uses, an AMI
        # nothing launches, and a disabled AMI nothing launches.
        ids["idle_address"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ids["old_volume"] = ec2.create_volume(
            Size=100, AvailabilityZone=f"{REGION}a", VolumeType="gp3", Iops=4000, Throughput=200
        )["VolumeId"]
        source = ec2.create_volume(Size=50, AvailabilityZone=f"{REGION}a", VolumeType="gp2")["VolumeId"]
        ids["source_volume"] = source
        ids["orphan_snapshot"] = ec2.create_snapshot(VolumeId=source, Description="old backup")["SnapshotId"]
        ids["unused_ami"] = _image(ec2, ids["builder"], "unused-image")
        ids["disabled_ami"] = _image(ec2, ids["builder"], "disabled-image")
        # Not waste, though Custodian's naive policies would say so.
        ids["associated_address"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=ids["associated_address"], InstanceId=ids["builder"])
        ids["lt_ami"] = _image(ec2, ids["builder"], "template-image")
        ids["stopped_ami"] = _image(ec2, ids["builder"], "stopped-image")
        ids["shared_ami"] = _image(ec2, ids["builder"], "shared-image")
        ec2.modify_image_attribute(ImageId=ids["shared_ami"], LaunchPermission={"Add": [{"UserId": OTHER_ACCOUNT}]})
        ids["lt_snapshot"] = ec2.create_snapshot(VolumeId=source, Description="template data")["SnapshotId"]
        ids["backup_snapshot"] = ec2.create_snapshot(
            VolumeId=source,
            TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": [{"Key": "aws:backup:source-resource", "Value": source}]}
            ],
        )["SnapshotId"]
        ids["kept_volume"] = ec2.create_volume(
            Size=20,
            AvailabilityZone=f"{REGION}b",
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "spotopt:waste", "Value": "keep"}]}],
        )["VolumeId"]
        template = ec2.create_launch_template(
            LaunchTemplateName="web-template", LaunchTemplateData={"ImageId": ids["lt_ami"]}
        )["LaunchTemplate"]["LaunchTemplateId"]
        ec2.create_launch_template_version(
            LaunchTemplateId=template,
            LaunchTemplateData={
                "ImageId": ids["lt_ami"],
                "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": ids["lt_snapshot"]}}],
            },
        )
        ids["template"] = template
        stopped = ec2.run_instances(ImageId=ids["stopped_ami"], MinCount=1, MaxCount=1, InstanceType="t3.micro")
        ids["stopped_instance"] = stopped["Instances"][0]["InstanceId"]
    ec2.disable_image(ImageId=ids["disabled_ami"])
    ids["disabled_ami_snapshot"] = _snapshot_of(ec2, ids["disabled_ami"])
    ids["unused_ami_snapshot"] = _snapshot_of(ec2, ids["unused_ami"])
    with freeze_time(now - timedelta(days=40)):
        ec2.stop_instances(InstanceIds=[ids["stopped_instance"]])
    ids["stopped_root_volume"] = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [ids["stopped_instance"]]}]
    )["Volumes"][0]["VolumeId"]
    ids["builder_root_volume"] = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [ids["builder"]]}]
    )["Volumes"][0]["VolumeId"]
    # Young: unattached for a day.
    with freeze_time(now - timedelta(days=1)):
        ids["young_volume"] = ec2.create_volume(Size=10, AvailabilityZone=f"{REGION}a")["VolumeId"]
    return Estate(ec2=ec2, autoscaling=autoscaling, ids=ids)


def _snapshot_of(ec2, image_id: str) -> str:
    (image,) = ec2.describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
    return image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]


@pytest.fixture
def estate(moto):  # noqa: F811 (the fixture imported above)
    return build_estate()


@pytest.fixture
def waste_account(make_account, client_user):
    """The client's production account of CUSTOMER_ACCOUNT, scanning only REGION."""
    return make_account(client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN, regions=[REGION])
