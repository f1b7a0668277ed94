from django.apps import AppConfig


class MlgovConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mlgov"
