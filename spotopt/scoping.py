"""Tenant scoping of querysets: the model half of tenancy (spotopt.tenancy is the web half).

Tenant-owned models use a `TenantQuerySet`; `Model.objects.for_user(user)` is everything that user may see,
so another tenant's row is simply not found. Who sees which accounts is the user model's rule, not this
module's: `user.account_scope()` returns the Account lookups the user is limited to (`{}` for every tenant,
e.g. {"team_id": ...} for a customer), or None for nothing at all (accounts.models.User). This module
imports nothing of the domain apps, so every app's models can import it.
"""

from django.db import models


def account_scope_of(user) -> dict | None:
    """The Account lookups `user` may see ({} = every tenant), or None: nothing (signed out, inactive)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.account_scope()


class TenantQuerySet(models.QuerySet):
    """Base queryset of tenant-owned models. `account_path` is the lookup from the model to its Account
    ("" for Account itself)."""

    account_path = "account"

    def for_user(self, user):
        scope = account_scope_of(user)
        if scope is None:
            return self.none()
        prefix = f"{self.account_path}__" if self.account_path else ""
        return self.filter(**{f"{prefix}{lookup}": value for lookup, value in scope.items()})
