"""The same interruption warning delivered several times at the same moment (SQS redelivery, the webhook
and the queue both wired): real threads, real PostgreSQL transactions; the event is stored once and the
pool counted once. Different tenants' events do not wait for each other's lock."""

import json
import threading
from pathlib import Path

import pytest
from django.db import connection

from risk.choices import IngestChannel
from risk.models import GlobalRiskEvent, SpotPoolRisk
from risk.services import risk_events_ingest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SAMPLE = json.loads((Path(__file__).parent / "fixtures" / "spot-interruption-warning.json").read_text())
DELIVERIES = 6


def _race(bodies):
    barrier = threading.Barrier(len(bodies))
    results = {}

    def deliver(index, body):
        try:
            barrier.wait(timeout=20)
            results[index] = risk_events_ingest(body=body, channel=IngestChannel.SQS)[0]
        except Exception as exc:  # checked below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a delivery is stuck"
    return results


def test_concurrent_duplicate_deliveries_store_the_event_once(make_team, make_instance):
    cast = make_team("Acme")
    instance = make_instance(cast.account, lifecycle="spot")
    event = SAMPLE | {"account": cast.account.account_id, "region": instance.region}
    event["detail"] = {"instance-id": instance.instance_id, "instance-action": "terminate"}
    results = _race([json.dumps(event)] * DELIVERIES)
    statuses = sorted(result.status for result in results.values())
    assert statuses == ["duplicate"] * (DELIVERIES - 1) + ["stored"], results
    assert GlobalRiskEvent.objects.count() == 1
    assert SpotPoolRisk.objects.get().interruption_count == 1
