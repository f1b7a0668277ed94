"""Counting the AWS API calls that failed, by service, operation and error code, for /metrics.

botocore tells every client built on spotopt.aws's sessions how each call ended (its "after-call" and
"after-call-error" events, after retries). A failed call is counted in memory at once (no database write
inside the caller's transaction, which may roll back) and written to ops.AwsApiError, added to what is there,
when the process's unit of work ends: a web request, a django-q2 task, a listener poll, the process itself.
"""

import atexit
import logging
import threading
from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)

_pending: Counter = Counter()
_lock = threading.Lock()


def _operation(event_name: str) -> tuple[str, str]:
    # "after-call.ec2.DescribeInstances" -> ("ec2", "DescribeInstances")
    _, service, operation = [*event_name.split(".", 2), "", ""][:3]
    return service or "unknown", operation or "unknown"


def _count(service: str, operation: str, code: str) -> None:
    with _lock:
        _pending[(service, operation, code[:128])] += 1


def on_after_call(http_response=None, parsed=None, event_name="", **kwargs) -> None:
    """botocore's after-call: an answer with an HTTP error status is one failed call, named by its code."""
    status = getattr(http_response, "status_code", 200)
    if status < 300:
        return
    code = ((parsed or {}).get("Error") or {}).get("Code") or f"HTTP{status}"
    _count(*_operation(event_name), code)


def on_after_call_error(exception=None, event_name="", **kwargs) -> None:
    """botocore's after-call-error: no answer at all (unreachable endpoint, timeout), named by its class."""
    _count(*_operation(event_name), type(exception).__name__ if exception else "Unknown")


def register(events) -> None:
    """Hook a botocore session's (or client's) event system."""
    events.register("after-call", on_after_call, unique_id="spotopt-aws-errors-after-call")
    events.register("after-call-error", on_after_call_error, unique_id="spotopt-aws-errors-after-call-error")


def flush(**kwargs) -> int:
    """Add the counts kept in memory to the table; returns how many failed calls were written. A database
    that cannot take them keeps them in memory for the next flush."""
    from .models import AwsApiError

    with _lock:
        counts = dict(_pending)
        _pending.clear()
    if not counts:
        return 0
    now = timezone.now()
    try:
        with transaction.atomic():
            for (service, operation, code), n in sorted(counts.items()):
                key = {"service": service, "operation": operation, "code": code}
                if not AwsApiError.objects.filter(**key).update(count=F("count") + n, last_seen_at=now):
                    try:
                        with transaction.atomic():
                            AwsApiError.objects.create(**key, count=n, last_seen_at=now)
                    except IntegrityError:  # another process created the row meanwhile
                        AwsApiError.objects.filter(**key).update(count=F("count") + n, last_seen_at=now)
    except Exception:  # the database is away (or not allowed here): the counts must outlive it
        logger.warning("AWS API error counts could not be written; they are kept for the next try", exc_info=True)
        with _lock:
            _pending.update(counts)
        return 0
    return sum(counts.values())


def connect_flushes() -> None:
    from django.core.signals import request_finished
    from django_q.signals import post_execute

    request_finished.connect(flush, dispatch_uid="ops.aws_errors.flush_after_request")
    post_execute.connect(flush, dispatch_uid="ops.aws_errors.flush_after_task")
    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # the interpreter is going away; nothing else can be done with the counts
        logger.warning("AWS API error counts were lost at exit", exc_info=True)
