from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class SpotoptConfig(AppConfig):
    """The project package as an app: the foundation's management commands, template tags and periodic
    housekeeping."""

    name = "spotopt"
    verbose_name = "spotopt platform"

    def ready(self):
        # Each app's presentation.py registers its badge tones (spotopt.presentation), like admin.py modules.
        autodiscover_modules("presentation")
        # Every log line a django-q2 task writes carries its task id (spotopt.logs).
        from django_q.signals import pre_execute

        from .logs import task_started

        pre_execute.connect(task_started, dispatch_uid="spotopt.logs.task_started")
