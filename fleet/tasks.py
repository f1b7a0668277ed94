"""django-q2 entry points of the fleet app: ids in, a service does the work."""

import logging

from accounts.models import Account

from .services import account_discover

logger = logging.getLogger(__name__)


def discover_account(account_pk: str) -> dict:
    account = Account.objects.filter(pk=account_pk, is_active=True).first()
    if account is None:
        logger.info("discovery skipped: account %s no longer exists", account_pk)
        return {"skipped": True}
    result = account_discover(account=account)
    return {"instances_found": result.instances_found, "errors": result.errors_by_region}
