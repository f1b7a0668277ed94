from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo estate and `manage.py seed_demo`: a shop window built through each app's own services."""

    name = "demo"
    verbose_name = "Demo estate"
