"""Two super_admins activate different production models at the same moment: the activations queue on the
enabled models' locks and the database ends with exactly one active production model. Real threads, real
PostgreSQL transactions, released together by a barrier."""

import threading
import time

import pytest
from django.db import connection

from accounts.choices import Role
from mlgov import services
from mlgov.choices import ModelStatus
from mlgov.models import MLModel, ModelMove
from tests.mlgov.onnx_models import risk_model

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 4


def enabled_model(lab, boss, name):
    model = services.model_upload(user=lab, name=name, version="1", feature_schema_version="1", data=risk_model())
    for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
        model = services.model_move(user=lab, model=model, status=status)
    return services.model_move(user=boss, model=model, status=ModelStatus.ENABLED)


def _race(activations) -> list:
    """Each (user, model) activated in its own thread, all released at once; the errors raised."""
    barrier = threading.Barrier(len(activations))
    errors = []

    def activate(user, model):
        try:
            barrier.wait(timeout=20)
            services.model_activate(user=user, model=model)
        except Exception as error:  # checked by the caller
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=pair) for pair in activations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an activation is stuck"
    return errors


def test_concurrent_activations_leave_exactly_one_active_model(make_user, monkeypatch):
    lab, first_boss, second_boss = make_user(Role.LAB), make_user(Role.SUPER_ADMIN), make_user(Role.SUPER_ADMIN)
    real_record = services._record

    def slow_record(*args, **kwargs):  # hold the lock holder inside its transaction for a moment
        time.sleep(0.1)
        return real_record(*args, **kwargs)

    monkeypatch.setattr(services, "_record", slow_record)
    for round_number in range(ROUNDS):
        models = [enabled_model(lab, first_boss, f"race-{round_number}-{n}") for n in range(2)]
        errors = _race([(first_boss, models[0]), (second_boss, models[1])])
        assert not errors, errors
        active = list(MLModel.objects.filter(is_active_prod=True))
        assert len(active) == 1 and active[0] in models, round_number
    # Both activations of each round ran, one after the other: every one recorded, and the one replaced says so.
    assert ModelMove.objects.filter(activated=True).count() == 2 * ROUNDS
    assert ModelMove.objects.filter(deactivated=True).count() == 2 * ROUNDS - 1
