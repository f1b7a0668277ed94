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


# Bumped whenever an account is saved or deleted in this process (accounts.apps connects it), so the ids a
# user object holds are read again; a user object lives for one request or one task.
_accounts_generation = 0


def accounts_changed(**_signal) -> None:
    global _accounts_generation
    _accounts_generation += 1


def scope_account_ids(user, account_model, scope: dict) -> list:
    """The ids of the accounts `scope` selects, read once per user object (until an account changes)."""
    key = (_accounts_generation, tuple(sorted(scope.items())))
    cached = getattr(user, "_scope_account_ids", None)
    if cached is None or cached[0] != key:
        accounts = account_model._default_manager.filter(**scope).order_by()
        cached = (key, list(accounts.values_list(account_model._meta.pk.attname, flat=True)))
        user._scope_account_ids = cached
    return cached[1]


def _related_model(model, path: str):
    for part in path.split("__"):
        model = model._meta.get_field(part).related_model
    return model


class TenantQuerySet(models.QuerySet):
    """Base queryset of tenant-owned models. `account_path` is the lookup from the model to its Account
    ("" for Account itself).

    A customer's rows are found by their accounts' ids (`account_id IN (…)`), not through a join on the
    team: PostgreSQL's statistics then know the tenant's share of the table, so a small tenant among large
    ones reads its own rows by the account index instead of walking the whole table in the list's order."""

    account_path = "account"

    def for_user(self, user):
        scope = account_scope_of(user)
        if scope is None:
            return self.none()
        if not self.account_path:
            return self.filter(**scope)
        if not scope:
            return self.all()
        ids = scope_account_ids(user, _related_model(self.model, self.account_path), scope)
        return self.filter(**{f"{self.account_path}__in": ids})
