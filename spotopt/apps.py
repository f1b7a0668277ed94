from django.apps import AppConfig


class SpotoptConfig(AppConfig):
    """The project package as an app: shared management commands and periodic housekeeping."""

    name = "spotopt"
    verbose_name = "spotopt platform"
