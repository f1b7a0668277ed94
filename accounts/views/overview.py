"""/overview/: where signing in lands (accounts.overview computes it)."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from ..choices import Role
from ..overview import overview_for
from ..roles import Capability, can, effective_role


@method_decorator(never_cache, name="dispatch")
class OverviewView(LoginRequiredMixin, View):
    def get(self, request):
        user = request.user
        context = {
            "title": "Overview",
            "overview": overview_for(user),
            # For the empty state of a user without an account yet (as the accounts list shows it).
            "can_connect": can(user, Capability.CONNECT_ACCOUNTS),
            "is_lab": effective_role(user) == Role.LAB,
        }
        return render(request, "accounts/overview.html", context)
