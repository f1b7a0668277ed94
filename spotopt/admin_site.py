"""The Django admin, for super_admins only: anyone else who is signed in gets the product's 403 page (not a
second login form), and the index shows what the operator still has to set up (the "platform" checks)."""

import time
from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core import checks
from django.core.exceptions import PermissionDenied

NOT_FOR_YOUR_ROLE = "The Django admin is for super_admins. Your role's pages are in the main menu."
# The checks ask STS who the platform is: not on every visit of the index.
PROBLEMS_CACHE_SECONDS = 60


class SpotoptAdminSite(admin.AdminSite):
    site_header = "spotopt administration"
    site_title = "spotopt admin"
    index_title = "Platform data"
    index_template = "admin/spotopt_index.html"
    _problems: tuple[float, list] = (0.0, [])

    def _refuse_signed_in_outsiders(self, request):
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied(NOT_FOR_YOUR_ROLE)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            self._refuse_signed_in_outsiders(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    def login(self, request, extra_context=None):
        self._refuse_signed_in_outsiders(request)
        return super().login(request, extra_context)

    def platform_problems(self) -> list[str]:
        checked_at, problems = self._problems
        if time.monotonic() - checked_at > PROBLEMS_CACHE_SECONDS:
            found = checks.run_checks(tags=["platform"], include_deployment_checks=True)
            problems = [f"{message.msg} {message.hint or ''}".strip() for message in found]
            type(self)._problems = (time.monotonic(), problems)
        return problems

    def index(self, request, extra_context=None):
        return super().index(request, {**(extra_context or {}), "platform_problems": self.platform_problems()})


class SpotoptAdminConfig(AdminConfig):
    default_site = "spotopt.admin_site.SpotoptAdminSite"
