from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operators watch: /metrics, and the AWS API errors every process counts for it."""

    name = "ops"
    verbose_name = "operations"

    def ready(self):
        from .aws_errors import connect_flushes

        connect_flushes()
