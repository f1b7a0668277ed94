from django.apps import AppConfig


class FleetConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "fleet"

    def ready(self):
        from approvals.choices import ActionType
        from approvals.registry import register_executor

        from .services import terminate_rogue_instance

        register_executor(ActionType.TERMINATE_ROGUE, terminate_rogue_instance)
