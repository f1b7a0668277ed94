from django.apps import AppConfig


class KubeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kube"
    verbose_name = "Kubernetes"

    def ready(self):
        from . import checks, presentation  # noqa: F401  (the settings checks and the badge tones)
