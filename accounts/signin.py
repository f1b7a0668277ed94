"""Sign-in rules every way in shares (the sign-in page, the admin, the JWT endpoint). A leaf module: it
imports nothing else of the app, so forms, views and the throttling code can all use it."""

from django.contrib.auth import get_user_model

# One message for the sign-in page, the admin and the API: it does not say which of the two was wrong, nor
# whether the account exists or is inactive.
INVALID_LOGIN_MESSAGE = "No active account matches that username and password. Passwords are case-sensitive."


def canonical_username(raw: str) -> str:
    """The stored spelling of `raw` (matched ignoring case), or `raw` lower-cased when no user has it.

    Usernames are case-insensitive (accounts.models.UserManager), so every way in first maps the typed name
    to one spelling: otherwise "Alice", "ALICE" and "alice" would each get their own django-axes tries."""
    stored = get_user_model().objects.filter(username__iexact=raw).values_list("username", flat=True).first()
    return stored if stored is not None else raw.lower()
