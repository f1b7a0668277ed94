"""The demo's interruption events: real EventBridge events in the customers' (emulated) accounts, read off
their SQS queues by the listener's own code, so the Risk page shows poisoned pools, the Fleet shows the
safety net's replicas and replacements, and the SLA page a month with downtime.

Everything goes through the product's services: the instance-type catalog refresh (the daily job), the
event queues and rules (`risk.queues.event_queue_setup`, as `manage.py setup_event_queue` does), and the
listener's `queue_poll` with the reaction inline (as `manage.py listen_events` does). Only PutEvents is the
customer's side: AWS itself would put these events on the account's EventBridge bus.

Two rounds, so each reaction sees the one before it (a listener process reacts to a burst in parallel):
1. rebalance recommendations: a standalone Spot instance gets a replica, an Auto Scaling group member a
   replacement attached before it is detached;
2. interruption warnings: the instance with a replica has it promoted (no downtime), another standalone
   Spot instance gets an emergency replacement (its downtime is logged), a node of the EKS node group and
   the Karpenter node are tainted, cordoned and drained through the cluster's API (demo.kubernetes; the
   node-group node is then replaced in its group, Karpenter replaces its own), and a LAB account's warning
   is logged without poisoning anything.
"""

import json
from dataclasses import dataclass, field

from accounts.models import Account
from fleet.catalog import catalog_refresh_all
from fleet.choices import Lifecycle, OrchestratorType
from fleet.models import Instance
from risk.listener import queue_poll, sqs_client
from risk.models import GlobalRiskEvent
from risk.queues import event_queue_setup
from risk.safety import event_react

from .estate import AccountClients, wrap_aws

REBALANCE = "EC2 Instance Rebalance Recommendation"
INTERRUPTION = "EC2 Spot Instance Interruption Warning"


@dataclass
class InterruptionSeed:
    queues: int = 0
    sent: int = 0
    stored: int = 0
    reactions: list[str] = field(default_factory=list)
    skipped: bool = False


def _instances(account: Account, **filters):
    return Instance.objects.filter(account=account, is_active=True, is_replica=False, **filters).order_by("instance_id")


def _event(instance: Instance, detail_type: str) -> dict:
    detail = {"instance-id": instance.instance_id}
    if detail_type == INTERRUPTION:
        detail["instance-action"] = "terminate"
    return {
        "Source": "aws.ec2",
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:ec2:{instance.availability_zone}:instance/{instance.instance_id}"],
    }


def demo_event_send(*, instance: Instance, rebalance: bool = False) -> str:
    """What AWS does when it is about to interrupt a Spot instance: put the event on the instance's account's
    EventBridge bus (in the emulator). The running listener then reads it off the account's queue. Returns
    the event id EventBridge gave it."""
    entry = _event(instance, REBALANCE if rebalance else INTERRUPTION)
    events = AccountClients(instance.account)("events", instance.region)
    answer = wrap_aws(events.put_events, Entries=[entry])
    return answer["Entries"][0].get("EventId", "")


def _put(account: Account, region: str, entries: list[dict]) -> int:
    if not entries:
        return 0
    events = AccountClients(account)("events", region)
    answer = wrap_aws(events.put_events, Entries=entries)
    return len(entries) - answer.get("FailedEntryCount", 0)


def _drain(account: Account, region: str, url: str, seed: InterruptionSeed) -> None:
    """What the running listener does with this queue, until it is empty; each reaction inline."""

    def react(result):  # what ingest_result_react(inline=True) does, keeping the answer to print it
        event = GlobalRiskEvent.objects.select_related("account").get(event_id=result.event_id)
        reaction = event_react(event=event)
        what = f"{reaction.action}: {reaction.detail}" if reaction else "no reaction"
        seed.reactions.append(f"{event.get_event_type_display()} for {event.instance_id} ({result.outcome}): {what}")

    client = sqs_client(account, region)
    while True:
        stats = queue_poll(account=account, region=region, url=url, client=client, wait_seconds=0, react=react)
        seed.stored += stats.stored
        if not stats.received:
            return


def demo_interruptions_seed(*, prod: Account, lab: Account, progress=print) -> InterruptionSeed:
    """Queues and rules in every demo region, then the two rounds of events (once: a re-run only checks
    the queues)."""
    seed = InterruptionSeed()
    refreshed = catalog_refresh_all()
    progress(f"  instance-type catalog: {len(refreshed)} region(s) refreshed")
    queues = {}
    for account in (prod, lab):
        for region, setup in wrap_aws(event_queue_setup, account=account).items():
            queues[(account.pk, region)] = setup.queue_url
    seed.queues = len(queues)
    progress(f"  event queues and EventBridge rules in {seed.queues} account-region(s)")
    if GlobalRiskEvent.objects.filter(account__in=[prod, lab]).exists():
        seed.skipped = True
        progress("  interruption events: already seeded")
        return seed

    spot = _instances(prod, lifecycle=Lifecycle.SPOT, orchestrator_type=OrchestratorType.STANDALONE)
    standalone = [i for i in spot if not (i.cluster_membership or {}).get("asg_name")]
    asg_member = next(
        (
            i
            for i in _instances(prod, orchestrator_type=OrchestratorType.STANDALONE)
            if i.cluster_membership.get("asg_name")
        ),
        None,
    )
    karpenter = _instances(prod, lifecycle=Lifecycle.SPOT, orchestrator_type=OrchestratorType.KUBERNETES).first()
    node_group_node = next(
        (
            i
            for i in _instances(prod, orchestrator_type=OrchestratorType.KUBERNETES)
            if i.cluster_membership.get("asg_name")
        ),
        None,
    )
    lab_spot = _instances(lab, lifecycle=Lifecycle.SPOT).first()

    rounds = [
        [(prod, i, REBALANCE) for i in [*standalone[:1], asg_member] if i],
        [(prod, i, INTERRUPTION) for i in [*standalone[:2], node_group_node, karpenter] if i]
        + ([(lab, lab_spot, INTERRUPTION)] if lab_spot else []),
    ]
    for events in rounds:
        by_queue: dict[tuple, list[dict]] = {}
        for account, instance, detail_type in events:
            by_queue.setdefault((account, instance.region), []).append(_event(instance, detail_type))
        for (account, region), entries in by_queue.items():
            seed.sent += _put(account, region, entries)
        for account, region in by_queue:
            _drain(account, region, queues[(account.pk, region)], seed)
    progress(f"  interruption events: {seed.sent} sent through EventBridge, {seed.stored} stored")
    for line in seed.reactions:
        progress(f"    {line}")
    return seed
