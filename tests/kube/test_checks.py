"""`manage.py check` warns about Kubernetes timeouts that cannot work together; the defaults pass."""

from kube.checks import kube_settings_check


def test_the_defaults_fit(settings):
    settings.SWITCH_HEALTHY_TIMEOUT_SECONDS = 240  # the production default (tests wait 1 s)
    assert kube_settings_check(None) == []


def test_a_deadline_past_the_warning_a_grace_past_the_deadline_and_a_switch_past_the_task_are_warned(settings):
    settings.KUBE_DRAIN_DEADLINE_SECONDS = 130
    settings.KUBE_POD_GRACE_SECONDS = 140
    settings.SWITCH_HEALTHY_TIMEOUT_SECONDS = 240  # the production default (tests wait 1 s)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600}
    assert [w.id for w in kube_settings_check(None)] == ["kube.W001", "kube.W002", "kube.W003"]
