"""`manage.py check` warnings for Kubernetes settings that cannot work together."""

from django.conf import settings
from django.core.checks import Warning, register

WARNING_SECONDS = 120  # AWS's interruption warning


@register("kube")
def kube_settings_check(app_configs, **kwargs):
    problems = []
    deadline, grace = settings.KUBE_DRAIN_DEADLINE_SECONDS, settings.KUBE_POD_GRACE_SECONDS
    if deadline >= WARNING_SECONDS:
        problems.append(
            Warning(
                f"KUBE_DRAIN_DEADLINE_SECONDS is {deadline}: a drain must end inside the two-minute interruption "
                "warning.",
                hint="Keep it at most 110 (the default is 90).",
                id="kube.W001",
            )
        )
    if grace >= deadline:
        problems.append(
            Warning(
                f"KUBE_POD_GRACE_SECONDS ({grace}) is not shorter than KUBE_DRAIN_DEADLINE_SECONDS ({deadline}): "
                "evicted pods could not finish before the deadline.",
                id="kube.W002",
            )
        )
    switch = 2 * settings.SWITCH_HEALTHY_TIMEOUT_SECONDS + settings.KUBE_NODE_READY_TIMEOUT_SECONDS + deadline
    if switch + 60 > settings.Q_CLUSTER["timeout"]:
        problems.append(
            Warning(
                f"A Kubernetes node's switch may take {switch} s (2 x SWITCH_HEALTHY_TIMEOUT_SECONDS + "
                "KUBE_NODE_READY_TIMEOUT_SECONDS + KUBE_DRAIN_DEADLINE_SECONDS), more than Q_TIMEOUT "
                f"({settings.Q_CLUSTER['timeout']}) less a minute: the worker would be stopped mid-switch.",
                hint="Raise Q_TIMEOUT or lower those timeouts.",
                id="kube.W003",
            )
        )
    return problems
