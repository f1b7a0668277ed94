"""Sign-in, sign-out and the home page. Throttling (django-axes) and the locked-out page are accounts.auth's."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..auth import LOGIN_TEMPLATE
from ..context_processors import nav_items_for
from ..forms import LoginForm
from ..roles import Capability, can


class SignInView(LoginView):
    """GET: the sign-in form. POST: sign in and go to ?next= when it is a URL of this site, else home.

    Throttled by django-axes: a locked-out username or IP gets accounts.auth.lockout_response instead of
    this view's answer. A signed-in visitor is sent home.
    """

    template_name = LOGIN_TEMPLATE
    form_class = LoginForm
    redirect_authenticated_user = True
    extra_context = {"title": "Sign in"}


class SignOutView(LogoutView):
    """POST (with the CSRF token): sign out and go to the sign-in page. GET only asks for confirmation."""

    http_method_names = ["get", "post", "options"]
    template_name = "accounts/logout.html"
    extra_context = {"title": "Sign out"}

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(settings.LOGIN_URL)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = "Sign out"
        return context

    def post(self, request, *args, **kwargs):
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:
            messages.info(request, "You have signed out.")
        return response


@never_cache
@require_GET
def home(request):
    """Signed out: the sign-in page. Signed in: the overview (else the accounts list); without those pages
    (a trimmed URL configuration), the admin for super admins, or a page listing the sections the user's
    role opens."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    for name in ("overview", "account_list"):
        try:
            return redirect(reverse(name))
        except NoReverseMatch:
            continue
    if can(request.user, Capability.USE_DJANGO_ADMIN):
        return redirect("admin:index")
    sections = [item for item in nav_items_for(request) if item.url != request.path]
    return render(request, "accounts/home.html", {"title": "Home", "sections": sections})
