"""django-q2 entry points of the waste app: ids in, a service does the work."""

import logging

from django_q.tasks import async_task

from accounts.models import Account
from spotopt.logs import log_context
from spotopt.q import PeriodicJob

from .services import SCANNABLE, account_scan_waste

logger = logging.getLogger(__name__)


def scan_account(account_pk: str) -> dict:
    account = Account.objects.filter(pk=account_pk, is_active=True, status__in=SCANNABLE).first()
    if account is None:
        logger.info("waste scan skipped: account %s is gone or not connected", account_pk)
        return {"skipped": True}
    with log_context(account_id=account.account_id):
        return account_scan_waste(account=account).summary()


def scan_all_accounts() -> int:
    """The daily job: one waste scan task per connected account (in parallel on the workers)."""
    pks = list(Account.objects.filter(is_active=True, status__in=SCANNABLE).values_list("pk", flat=True))
    for pk in pks:
        async_task("waste.tasks.scan_account", str(pk), group="waste-scan")
    return len(pks)


SCHEDULES = [PeriodicJob(name="waste.scan-all", func="waste.tasks.scan_all_accounts", minutes=24 * 60)]
