"""Dashboard views of the accounts app (thin: parse, call a service, render).

Sections:
- Sign-in: the sign-in page, sign-out, the home redirect and the page django-axes shows when locked out.
- Onboarding: below (connect an AWS account).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .context_processors import nav_items_for
from .forms import LoginForm
from .roles import Capability, can

# ======================================================================================================
# Sign-in
# ======================================================================================================

LOGIN_TEMPLATE = "accounts/login.html"


class SignInView(LoginView):
    """GET: the sign-in form. POST: sign in and go to ?next= when it is a URL of this site, else home.

    Throttled by django-axes: a locked-out username or IP gets `render_locked_out_sign_in` (via
    accounts.auth.lockout_response) instead of this view's answer. A signed-in visitor is sent home.
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


def _safe_next_url(request) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    # Locked out at the admin's own login page: come back to the admin after signing in.
    if request.path == reverse("admin:login"):
        return reverse("admin:index")
    return ""


def render_locked_out_sign_in(request, *, message: str):
    """The sign-in page with the lockout message, status 429 (accounts.auth.lockout_response).

    The form is fresh (no "wrong password" error: the password was not even checked) and keeps the
    username as typed; it posts to the sign-in page whichever page the attempt came from (e.g. the admin).
    """
    form = LoginForm(request, initial={"username": request.POST.get("username", "")[:150]})
    context = {"form": form, "lockout_message": message, "title": "Sign in", "next": _safe_next_url(request)}
    response = render(request, LOGIN_TEMPLATE, context, status=429)
    add_never_cache_headers(response)
    return response


@never_cache
@require_GET
def home(request):
    """Signed out: the sign-in page. Signed in: the accounts list; until that page exists, the admin for
    super admins, or a page listing the sections the user's role opens."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    try:
        return redirect(reverse("account_list"))
    except NoReverseMatch:
        pass
    if can(request.user, Capability.USE_DJANGO_ADMIN):
        return redirect("admin:index")
    sections = [item for item in nav_items_for(request) if item.url != request.path]
    return render(request, "accounts/home.html", {"title": "Home", "sections": sections})


# ======================================================================================================
# Onboarding
# ======================================================================================================
