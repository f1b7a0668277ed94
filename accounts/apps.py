from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from spotopt.scoping import accounts_changed

        from . import checks  # noqa: F401  (registers the platform checks)
        from .models import Account

        # A user object's cached account ids (spotopt.scoping.scope_account_ids) are read again after this.
        post_save.connect(accounts_changed, sender=Account, dispatch_uid="spotopt-accounts-changed-save")
        post_delete.connect(accounts_changed, sender=Account, dispatch_uid="spotopt-accounts-changed-delete")
