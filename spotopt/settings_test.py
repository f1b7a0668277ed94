"""Settings for the test suite: spotopt.settings with test-only shortcuts.

The database comes from DATABASE_URL as usual (SQLite when unset; CI points it at PostgreSQL).
"""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SPOTOPT_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from .settings import *  # noqa: F403

# bcrypt at 12 rounds costs ~0.25 s a hash; tests that only need *a* password use a fast hasher.
# tests/accounts/test_passwords.py checks that the real settings put bcrypt (12 rounds) first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "media"  # noqa: F405
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
# moto's instances pass their status checks at once; a test that waits for a health that never comes
# (a rollback) should not sleep.
SWITCH_POLL_SECONDS = 0.0
SWITCH_HEALTHY_TIMEOUT_SECONDS = 1
