"""django-q2 entry points of the fleet app: ids in, a service does the work."""

import logging

from django_q.tasks import async_task

from accounts.choices import AccountStatus
from accounts.models import Account
from spotopt.logs import log_context
from spotopt.q import PeriodicJob

from .catalog import catalog_refresh_all
from .services import account_discover

logger = logging.getLogger(__name__)

DISCOVERABLE = (AccountStatus.CONNECTED, AccountStatus.ACTIVE)


def discover_account(account_pk: str) -> dict:
    account = Account.objects.filter(pk=account_pk, is_active=True, status__in=DISCOVERABLE).first()
    if account is None:
        logger.info("discovery skipped: account %s is gone or not connected", account_pk)
        return {"skipped": True}
    with log_context(account_id=account.account_id):
        result = account_discover(account=account)
    return {"instances_found": result.instances_found, "errors": result.errors_by_region}


def discover_all_accounts() -> int:
    """The periodic job: one discovery task per connected account (they run in parallel on the workers)."""
    pks = list(Account.objects.filter(is_active=True, status__in=DISCOVERABLE).values_list("pk", flat=True))
    for pk in pks:
        async_task("fleet.tasks.discover_account", str(pk), group="discovery")
    return len(pks)


def refresh_instance_types() -> dict:
    """The daily job: the instance-type catalog of every region in use (fleet.catalog.catalog_refresh_all);
    the result by region, failed regions with their error, is kept as the task's result."""
    return catalog_refresh_all()


def refresh_market_data() -> dict:
    """The hourly job: Spot price history, on-demand prices and placement scores of every region in use
    (fleet.market), asked with one connected account of each region."""
    from .market import market_refresh_all

    return market_refresh_all()


def refresh_spot_advisor() -> dict:
    """The daily job: the Spot Instance Advisor's interruption bands (SPOT_ADVISOR_URL)."""
    from .market import advisor_refresh

    return advisor_refresh()


def optimize_cycle() -> dict:
    """The 5-minute job: close the node drains and recover the switches a dead worker left running, queue
    again the switches a busy group held back, evaluate every active instance, log the decisions, queue or
    file their switches, and cancel those whose approval was refused."""
    from kube.drain import drains_reap_stalled

    from .execution import optimizer_cycle, switches_reap_stalled, switches_resume_queued

    drains_reap_stalled()
    reaped = switches_reap_stalled()
    resumed = switches_resume_queued()
    result = optimizer_cycle()
    return {
        "evaluated": result.evaluated,
        "decisions": result.decisions,
        "queued": len(result.queued),
        "awaiting_approval": result.awaiting_approval,
        "cancelled": result.cancelled,
        "resumed": resumed,
        "reaped": reaped,
    }


def execute_switch(switch_id: str) -> str:
    from .execution import switch_execute

    switch = switch_execute(switch_id=switch_id)
    return switch.status if switch else "not run (not queued, or its group is busy)"


def settle_switch_outcomes() -> dict:
    """The hourly job: Spot switches interrupted within 24 h are failures, the others successes."""
    from .execution import switch_outcomes_settle

    return switch_outcomes_settle()


SCHEDULES = [
    PeriodicJob(name="fleet.optimize", func="fleet.tasks.optimize_cycle", minutes=5),
    PeriodicJob(name="fleet.settle-switch-outcomes", func="fleet.tasks.settle_switch_outcomes", minutes=60),
    PeriodicJob(name="fleet.discover-all", func="fleet.tasks.discover_all_accounts", minutes=15),
    PeriodicJob(name="fleet.refresh-instance-types", func="fleet.tasks.refresh_instance_types", minutes=24 * 60),
    PeriodicJob(name="fleet.refresh-market-data", func="fleet.tasks.refresh_market_data", minutes=60),
    PeriodicJob(name="fleet.refresh-spot-advisor", func="fleet.tasks.refresh_spot_advisor", minutes=24 * 60),
]
