"""/metrics: Prometheus text format (prometheus_client), read from the database at scrape time, so every
process (web, workers, listener) is counted the same way and a restart loses nothing.

AWS API errors are counted by every process in memory and written to ops.AwsApiError when its unit of
work ends (ops.aws_errors); the reaction time is read from risk.EventReaction.

Protected by METRICS_TOKEN: a scraper sends `Authorization: Bearer <token>`; without the setting the
endpoint is off (404). Every figure is one GROUP BY or COUNT; nothing names a tenant but the AWS account id
of a discovery duration.
"""

import hmac
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import CollectorRegistry

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300)  # seconds from AWS's event to its ingest
LATENCY_WINDOW = timedelta(hours=24)
# Seconds from a warning's arrival to the act: the two-minute warning leaves room for a few seconds at most.
REACTION_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


def _grouped(queryset, *fields) -> list[tuple]:
    return [
        (*(row[f] for f in fields), row["n"]) for row in queryset.values(*fields).annotate(n=Count("pk")).order_by()
    ]


class SpotoptCollector:
    def collect(self):
        from accounts.models import Account
        from approvals.choices import ApprovalStatus
        from approvals.models import ApprovalRequest
        from fleet.models import Switch
        from kube.models import NodeDrain
        from mlgov.models import ExperimentLog
        from risk.models import GlobalRiskEvent, RejectedIngest

        from .models import AwsApiError

        events = CounterMetricFamily(
            "spotopt_risk_events",
            "Interruption events ingested, by type and what they did.",
            labels=["type", "outcome"],
        )
        for event_type, outcome, n in _grouped(GlobalRiskEvent.objects.all(), "event_type", "outcome"):
            events.add_metric([event_type, outcome], n)
        yield events

        rejected = CounterMetricFamily(
            "spotopt_risk_events_rejected",
            "Event messages and webhook calls that could not be read.",
            labels=["reason"],
        )
        for reason, n in _grouped(RejectedIngest.objects.all(), "reason"):
            rejected.add_metric([reason], n)
        yield rejected

        yield self._latency(GlobalRiskEvent)
        yield self._reaction_time()

        decisions = CounterMetricFamily("spotopt_decisions", "Optimizer evaluations, by decision.", labels=["decision"])
        for decision, n in _grouped(ExperimentLog.objects.all(), "decision"):
            decisions.add_metric([decision], n)
        yield decisions

        switches = CounterMetricFamily(
            "spotopt_switches", "Switches, by status (SUCCEEDED executed, ROLLED_BACK undone).", labels=["status"]
        )
        for status, n in _grouped(Switch.objects.all(), "status"):
            switches.add_metric([status], n)
        yield switches

        drains = CounterMetricFamily("spotopt_node_drains", "Kubernetes node drains, by status.", labels=["status"])
        for status, n in _grouped(NodeDrain.objects.all(), "status"):
            drains.add_metric([status], n)
        yield drains

        pending = GaugeMetricFamily("spotopt_approvals_pending", "Approval requests waiting for a decision.")
        pending.add_metric([], ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count())
        yield pending

        yield from self._queue()

        discovery = GaugeMetricFamily(
            "spotopt_discovery_duration_seconds", "The last discovery's duration, per AWS account.", labels=["account"]
        )
        for account_id, progress in Account.objects.filter(is_active=True).values_list(
            "account_id", "account_metadata__discovery"
        ):
            seconds = _duration(progress)
            if seconds is not None:
                discovery.add_metric([account_id], seconds)
        yield discovery

        aws_errors = CounterMetricFamily(
            "spotopt_aws_api_errors",
            "AWS API calls that failed after retries, by service, operation and error code.",
            labels=["service", "operation", "code"],
        )
        for service, operation, code, n in AwsApiError.objects.values_list("service", "operation", "code", "count"):
            aws_errors.add_metric([service, operation, code], n)
        yield aws_errors

    def _latency(self, model):
        since = timezone.now() - LATENCY_WINDOW
        latency = ExpressionWrapper(F("received_at") - F("reported_at"), output_field=DurationField())
        rows = model.objects.filter(received_at__gte=since).annotate(latency=latency)
        counts = rows.aggregate(
            total=Count("pk"),
            seconds=Sum("latency"),
            **{f"le_{b}": Count("pk", filter=Q(latency__lte=timedelta(seconds=b))) for b in LATENCY_BUCKETS},
        )
        histogram = HistogramMetricFamily(
            "spotopt_event_ingest_latency_seconds",
            "From AWS's event time to its ingest, over the last 24 hours.",
        )
        buckets = [(str(float(b)), counts[f"le_{b}"]) for b in LATENCY_BUCKETS] + [("+Inf", counts["total"])]
        total = counts["seconds"]
        histogram.add_metric([], buckets, sum_value=total.total_seconds() if total is not None else 0.0)
        return histogram

    def _reaction_time(self):
        from risk.models import EventReaction

        rows = (
            EventReaction.objects.filter(acted_at__gte=timezone.now() - LATENCY_WINDOW)
            .values("action")
            .annotate(
                total=Count("pk"),
                seconds_sum=Sum("seconds"),
                **{f"le_{i}": Count("pk", filter=Q(seconds__lte=b)) for i, b in enumerate(REACTION_BUCKETS)},
            )
            .order_by("action")
        )
        histogram = HistogramMetricFamily(
            "spotopt_reaction_seconds",
            "From an interruption event's arrival to the safety net's act (launch request or replica "
            "promotion), by action, over the last 24 hours.",
            labels=["action"],
        )
        for row in rows:
            buckets = [(str(float(b)), row[f"le_{i}"]) for i, b in enumerate(REACTION_BUCKETS)]
            buckets.append(("+Inf", row["total"]))
            histogram.add_metric([row["action"]], buckets, sum_value=row["seconds_sum"] or 0.0)
        return histogram

    def _queue(self):
        from django_q.brokers import get_broker
        from django_q.models import Failure

        depth = GaugeMetricFamily("spotopt_task_queue_depth", "Tasks waiting in the django-q2 queue.")
        try:
            depth.add_metric([], get_broker().queue_size())
        except Exception:  # the broker is down: the gauge is left out rather than invented
            logger.warning("metrics: the task queue's size could not be read", exc_info=True)
        else:
            yield depth
        failures = CounterMetricFamily("spotopt_task_failures", "Background tasks that failed (django-q2).")
        failures.add_metric([], Failure.objects.count())
        yield failures


def _duration(progress) -> float | None:
    if not isinstance(progress, dict):
        return None
    try:
        started = datetime.fromisoformat(progress["started_at"])
        finished = datetime.fromisoformat(progress["finished_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return max((finished - started).total_seconds(), 0.0)


def _authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


@require_GET
def metrics(request):
    if not settings.METRICS_TOKEN:
        raise Http404("Metrics are off: set METRICS_TOKEN.")
    if not _authorized(request):
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SpotoptCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
