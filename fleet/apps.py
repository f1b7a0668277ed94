from django.apps import AppConfig


class FleetConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "fleet"

    def ready(self):
        from approvals.choices import ActionType
        from approvals.registry import register_executor

        from .execution import switch_approved
        from .services import terminate_rogue_instance

        register_executor(ActionType.TERMINATE_ROGUE, terminate_rogue_instance)
        register_executor(ActionType.SWITCH_INSTANCE, switch_approved)
