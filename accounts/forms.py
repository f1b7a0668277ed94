"""Forms of the accounts app."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from .auth import INVALID_LOGIN_MESSAGE, canonical_username

# --- Sign-in ------------------------------------------------------------------------------------------


class _CaseInsensitiveSignInMixin:
    """Authenticate with the stored spelling of the username, so django-axes counts failures for "Alice"
    and "alice" together. The page still shows back what was typed (BoundField renders the raw input)."""

    def clean_username(self):
        return canonical_username(self.cleaned_data["username"])


class LoginForm(_CaseInsensitiveSignInMixin, AuthenticationForm):
    error_messages = {
        "invalid_login": INVALID_LOGIN_MESSAGE,
        "inactive": "This account is inactive. Ask an administrator to re-enable it.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.label_suffix = ""
        username, password = self.fields["username"], self.fields["password"]
        username.label = "Username"
        username.widget.attrs.update(
            {"autofocus": True, "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        password.label = "Password"
        password.widget.attrs.update({"autocomplete": "current-password"})


class AdminLoginForm(_CaseInsensitiveSignInMixin, AdminAuthenticationForm):
    """The Django admin's login form (admin.site.login_form), with the same username handling."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        # The admin is for super admins only; say so rather than hint that the password was wrong.
        "invalid_login": "No active super admin account matches that username and password. "
        "Passwords are case-sensitive.",
    }
