"""Tenant scoping, applied once: querysets know `for_user(user)`, and the view and viewset mixins here
call it, so another tenant's object is simply not found (404), never forbidden and never shown.

Who sees what (accounts.roles has the matrix):
- super_admin, admin: every tenant;
- client, user: the accounts they own and everything under them;
- lab: LAB-environment accounts (of every tenant) and everything under them.
Write permissions are a separate check (`RoleRequiredMixin`, `CapabilityPermission`).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.roles import Capability, can, effective_role


class TenantQuerySet(models.QuerySet):
    """Base queryset of tenant-owned models. `account_path` is the lookup from the model to its Account
    ("" for Account itself)."""

    account_path = "account"

    def _lookup(self, field: str) -> str:
        return f"{self.account_path}__{field}" if self.account_path else field

    def for_user(self, user):
        from accounts.choices import EnvironmentType, Role

        role = effective_role(user)
        if role is None:
            return self.none()
        if role in (Role.SUPER_ADMIN, Role.ADMIN):
            return self
        if role == Role.LAB:
            return self.filter(**{self._lookup("environment_type"): EnvironmentType.LAB})
        return self.filter(**{self._lookup("user"): user})


class SignInRequiredMixin:
    """Like Django's LoginRequiredMixin (which cannot be imported while models load: this module is)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return super().dispatch(request, *args, **kwargs)


class TenantScopedMixin(SignInRequiredMixin):
    """For class-based dashboard views: the queryset is the model's `for_user(request.user)`.

    List views also get forgiving pagination: an out-of-range ?page= shows the last page, not a 404."""

    model = None

    def get_queryset(self):
        return self.model.objects.for_user(self.request.user)

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()


class CapabilityRequiredMixin:
    """Refuse (403) a signed-in user whose role lacks `required_capability`."""

    required_capability: Capability | None = None

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and self.required_capability
            and not can(request.user, self.required_capability)
        ):
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)


class TenantScopedViewSetMixin:
    """For DRF viewsets: scope `queryset` to the requesting user (another tenant's object is a 404)."""

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)


class CapabilityPermission(BasePermission):
    """Reads need VIEW_ACCOUNTS-level access (scoping does the rest); writes need the view's
    `write_capability` (default MANAGE_ACCOUNTS)."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return True
        capability = getattr(view, "write_capability", Capability.MANAGE_ACCOUNTS)
        return can(request.user, capability)
