from django.apps import AppConfig


class ReplayConfig(AppConfig):
    """Replaying Spot markets through the product's decision code (bench/replay.py): the trace format, the
    synthetic scenarios, the peers' policies, the simulator, and `manage.py replay_record`. No models."""

    name = "replay"
    verbose_name = "policy replay"
