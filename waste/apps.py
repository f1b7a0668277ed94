from django.apps import AppConfig


class WasteConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "waste"

    def ready(self):
        from approvals.choices import ActionType
        from approvals.registry import register_executor

        from .services import waste_delete_approved

        register_executor(ActionType.DELETE_WASTE, waste_delete_approved)
