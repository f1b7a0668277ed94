from django.apps import AppConfig


class KubeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kube"
    verbose_name = "Kubernetes"

    def ready(self):
        from . import presentation  # noqa: F401  (registers the badge tones)
