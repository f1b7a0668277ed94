"""The zero-setup SQLite database survives the demo's load: the web server and two task workers writing at
once. Each writer here is its own process (as gunicorn's workers and django-q's are), and every transaction
reads before it writes, the pattern that fails at once with "database is locked" under SQLite's default
deferred transactions (both hold a read lock, neither can upgrade). WAL, a busy timeout and IMMEDIATE
transactions (spotopt/settings.py) make them wait their turn instead."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4
TRANSACTIONS = 60

WRITER = """
import django, sys
django.setup()
from django.db import connection, transaction
from accounts.models import Team

name = sys.argv[1]
for n in range({transactions}):
    with transaction.atomic():
        seen = Team.objects.filter(name__startswith=name).count()  # read first ...
        Team.objects.create(name=f"{{name}}-{{seen}}")             # ... then write
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
"""


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DJANGO_SETTINGS_MODULE="spotopt.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SPOTOPT_VAR_DIR=str(tmp_path / "var"),
        DEBUG="true",
    )
    return env


def test_concurrent_writers_wait_their_turn_instead_of_failing(tmp_path):
    env = _env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    script = WRITER.format(transactions=TRANSACTIONS)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, f"writer{n}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    results = [writer.communicate(timeout=300) for writer in writers]

    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip() == "wal"
    check = "import django; django.setup(); from accounts.models import Team; print(Team.objects.count())"
    count = subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert int(count.stdout) == WRITERS * TRANSACTIONS
