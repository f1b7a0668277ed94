"""The demo runs the way production does (demo/demo.env): DEBUG off, static files served by whitenoise from
collectstatic's output, the product's own error pages. Checked in a fresh process with exactly the demo's
variables, as scripts/run_demo.sh sets them."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.demo.config import demo_env

REPO_ROOT = Path(__file__).resolve().parents[2]

REQUESTS = """
import django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
print("DEBUG", settings.DEBUG)
missing = client.get("/no-such-page/")
page = missing.content.decode()
print("404", missing.status_code, "There is nothing here, or nothing you can see." in page, "URLconf" in page)
css = client.get("/static/css/spotopt.css")
print("css", css.status_code, css.get("Cache-Control", ""))
print("healthz", client.get("/healthz").status_code)
print("api404", client.get("/api/v1/nope/").json())
"""


def test_the_demo_configuration_is_production_like(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "DEBUG"))}
    env.update(demo_env())
    env.update(
        DJANGO_SETTINGS_MODULE="spotopt.settings",
        SPOTOPT_VAR_DIR=str(tmp_path / "var"),
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SECRET_KEY=secrets.token_urlsafe(50),
        CREDENTIALS_ENCRYPTION_KEYS="demo1:" + base64.b64encode(os.urandom(32)).decode(),
    )
    assert env["DEBUG"] == "false"

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    assert manage("migrate", "--no-input", "-v", "0").returncode == 0
    assert manage("collectstatic", "--no-input", "-v", "0").returncode == 0
    result = subprocess.run(
        [sys.executable, "-c", REQUESTS], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["DEBUG"] == "False"
    assert lines["404"] == "404 True False"  # the product's page, not Django's debug page listing URLs
    assert lines["css"].startswith("200 ")  # whitenoise serves the collected file
    assert lines["healthz"] == "200"
    assert lines["api404"] == "{'detail': 'Not found.', 'code': 'not_found'}"
