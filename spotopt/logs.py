"""Log lines as JSON (LOG_FORMAT=json) with the background work's context: the django-q2 task id on every
line a task writes, and the AWS account id once a task says which account it works on (`log_context`).

Secrets are never put in a log record by the product's code (spotopt.aws and spotopt.kube build their
messages without them); this formatter adds only the fields listed here.
"""

import contextvars
import json
import logging
from contextlib import contextmanager
from datetime import UTC, datetime

_task_id = contextvars.ContextVar("spotopt_task_id", default="")
_account_id = contextvars.ContextVar("spotopt_account_id", default="")


@contextmanager
def log_context(*, account_id: str = "", task_id: str = ""):
    """`with log_context(account_id=account.account_id):` every line inside carries it."""
    tokens = []
    if account_id:
        tokens.append((_account_id, _account_id.set(str(account_id))))
    if task_id:
        tokens.append((_task_id, _task_id.set(str(task_id))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def task_started(sender=None, func=None, task=None, **kwargs) -> None:
    """django-q2's pre_execute signal: the task id for every line the task writes (a worker runs one task
    at a time, so the next task's signal replaces it)."""
    _task_id.set(str((task or {}).get("id", "")))
    _account_id.set("")


class ContextFilter(logging.Filter):
    def filter(self, record):
        record.task_id = _task_id.get()
        record.account_id = _account_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("task_id", "account_id"):
            value = getattr(record, field, "")
            if value:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
