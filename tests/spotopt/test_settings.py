"""spotopt.settings in a fresh process: production refuses to start without secrets and passes check --deploy."""

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Variables the test process itself may carry (pytest-django, settings_test, CI) that must not leak in.
SETTINGS_VARIABLES = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DEBUG",
    "SECRET_KEY",
    "CREDENTIALS_ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SPOTOPT_VAR_DIR",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "REDIS_URL",
    "EMAIL_URL",
    "PLATFORM_AWS_PRINCIPAL_ARN",
    "AWS_ENDPOINT_URL",
    "CLOUDFORMATION_ROLE_NAME",
)


@pytest.fixture
def clean_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "spotopt.settings"
    env["SPOTOPT_VAR_DIR"] = str(tmp_path / "var")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return env


@pytest.fixture
def production_env(clean_env):
    return {
        **clean_env,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "example.com",
        "CREDENTIALS_ENCRYPTION_KEYS": "prod1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        # The operator names the role the platform runs as (otherwise check --deploy asks STS, see below).
        "PLATFORM_AWS_PRINCIPAL_ARN": "arn:aws:iam::123456789012:role/spotopt-platform",
    }


def run_manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key(production_env):
    del production_env["SECRET_KEY"]
    result = run_manage(production_env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_production_refuses_an_empty_secret_key(production_env):
    production_env["SECRET_KEY"] = ""
    result = run_manage(production_env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_refuses_to_start_without_encryption_keys(production_env):
    del production_env["CREDENTIALS_ENCRYPTION_KEYS"]
    result = run_manage(production_env, "check")
    assert result.returncode != 0
    assert "CREDENTIALS_ENCRYPTION_KEYS must be set when DEBUG is off" in result.stderr
    assert "SECRET_KEY must be set" not in result.stderr


def test_check_deploy_warns_only_about_what_the_readme_explains(production_env):
    # HSTS preload is a lasting promise for a whole domain, so it is the operator's choice (off by default);
    # it is the one deploy warning left, and the README says why.
    result = run_manage(production_env, "check", "--deploy")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = re.findall(r"\(security\.(W\d+)\)", output)
    assert warnings == ["W021"], output
    readme = (REPO_ROOT / "README.md").read_text()
    assert "security.W021" in readme


def test_check_deploy_is_clean_with_hsts_preload_chosen(production_env):
    production_env["SECURE_HSTS_PRELOAD"] = "true"
    result = run_manage(production_env, "check", "--deploy")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output


def test_check_tells_the_operator_what_blocks_the_cloudformation_onboarding(production_env):
    # A setting that is not a principal a customer's role can trust: every `check` says so.
    production_env["PLATFORM_AWS_PRINCIPAL_ARN"] = "arn:aws:sts::123456789012:assumed-role/x/y"
    result = run_manage(production_env, "check")
    assert result.returncode != 0
    refused = "(spotopt.E001) PLATFORM_AWS_PRINCIPAL_ARN 'arn:aws:sts::123456789012:assumed-role/x/y' is not an IAM"
    assert refused in result.stderr

    # Unset, the deploy check asks STS; an unreachable AWS is named, with what customers cannot do meanwhile.
    del production_env["PLATFORM_AWS_PRINCIPAL_ARN"]
    production_env.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y"
    )
    assert run_manage(production_env, "check").returncode == 0  # no AWS call outside --deploy
    result = run_manage(production_env, "check", "--deploy")
    assert result.returncode != 0
    assert "(spotopt.E003) The platform's AWS identity is unknown: AWS could not be reached" in result.stderr
    assert "Customers cannot connect accounts with a CloudFormation role until it is fixed." in result.stderr


def test_production_settings_are_hardened(production_env):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.ALLOWED_HOSTS, "
        "s.PASSWORD_HASHERS[0].rsplit('.', 1)[1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=production_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "True",
        "True",
        "True",
        "True",
        "['example.com']",
        "BCryptSHA256PasswordHasher",
    ]


def test_development_runs_with_zero_setup(clean_env):
    # No secrets at all: DEBUG defaults to on, and the development keys are used.
    result = run_manage(clean_env, "check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
