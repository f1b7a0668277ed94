"""/overview/: where signing in lands (accounts.overview computes it)."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from ..overview import overview_for


@method_decorator(never_cache, name="dispatch")
class OverviewView(LoginRequiredMixin, View):
    def get(self, request):
        return render(request, "accounts/overview.html", {"title": "Overview", "overview": overview_for(request.user)})
