"""LOG_FORMAT=json: one JSON object a line, with the django-q2 task id (set by its pre_execute signal) and
the account id background work names; plain lines otherwise."""

import json
import logging

from django_q.signals import pre_execute

from spotopt.logs import ContextFilter, JsonFormatter, log_context


def formatted(message: str, *args) -> dict:
    record = logging.LogRecord("fleet.services", logging.INFO, __file__, 1, message, args, None)
    ContextFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_a_line_is_json_with_the_task_and_the_account_it_works_on():
    pre_execute.send(sender="test", func="fleet.tasks.discover_account", task={"id": "task-42", "name": "x"})
    with log_context(account_id="111122223333"):
        line = formatted("discovered %d instances", 7)
    assert line["message"] == "discovered 7 instances" and line["level"] == "INFO"
    assert line["logger"] == "fleet.services" and line["time"].endswith("+00:00")
    assert (line["task_id"], line["account_id"]) == ("task-42", "111122223333")
    after = formatted("outside the account")
    assert after["task_id"] == "task-42" and "account_id" not in after
    pre_execute.send(sender="test", func="other", task={"id": "task-43"})
    assert formatted("next task")["task_id"] == "task-43"


def test_the_json_formatter_is_chosen_by_the_setting():
    from django.conf import settings

    handler = settings.LOGGING["handlers"]["console"]
    assert handler["filters"] == ["context"]
    assert handler["formatter"] == ("json" if settings.LOG_FORMAT == "json" else "plain")
    assert settings.LOGGING["formatters"]["json"]["()"] == "spotopt.logs.JsonFormatter"
