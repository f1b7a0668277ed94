"""Valid action payloads of approval requests (the schemas of approvals.registry), for the approvals tests. Each
call answers a fresh dict; keywords override or add fields."""

ROGUE_INSTANCE = "i-0123456789abcdef0"
SWITCHED_INSTANCE = "i-0000000000000aaaa"
WASTE_RESOURCE_ID = "5b0e8a4e-8d0f-4a35-9b43-44d3f1c6b001"  # the waste.WasteResource row the request is about


def rogue_payload(instance_id: str = ROGUE_INSTANCE, **fields) -> dict:
    """TERMINATE_ROGUE: the unauthorized instance and its region."""
    return {"instance_id": instance_id, "region": "us-east-1", **fields}


def switch_payload(**fields) -> dict:
    """SWITCH_INSTANCE: SWITCHED_INSTANCE onto a Spot m6i.large in us-east-1b."""
    return {
        "instance_id": SWITCHED_INSTANCE,
        "target_instance_type": "m6i.large",
        "target_availability_zone": "us-east-1b",
        **fields,
    }


def waste_payload(resource_id: str = "vol-0abc", region: str = "eu-west-1", **fields) -> dict:
    """DELETE_WASTE: a batch of one EBS volume (keywords override the resource's fields, e.g. resource_type)."""
    resource = {
        "waste_resource_id": WASTE_RESOURCE_ID,
        "resource_type": "ebs_volume",
        "resource_id": resource_id,
        "region": region,
        "monthly_cost": "8.0000",
        "reason": "unattached since 2026-10-02 at the latest, 100 GiB gp3",
        **fields,
    }
    return {"resources": [resource], "total_monthly_cost": resource["monthly_cost"], "final_snapshot": True}
