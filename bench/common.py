"""What the benchmarks share: Django on a scratch database (never the one DATABASE_URL names), and
percentiles."""

import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))


def django_environment(tmp: Path, **extra: str) -> str:
    """Environment for spotopt.settings; returns what database it uses (a throwaway SQLite file unless
    DATABASE_URL names a server, on which a scratch database is created)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "spotopt.settings"
    os.environ["SPOTOPT_VAR_DIR"] = str(tmp)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.update(extra)
    if os.environ.get("DATABASE_URL"):
        return "scratch database on DATABASE_URL's server"
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    return "throwaway SQLite"


@contextmanager
def scratch_database(tmp: Path, given_url: bool, *, keep: bool = False):
    """Migrate a scratch database and drop it afterwards (unless `keep`); DATABASE_URL's own database is
    never used. Yields its name."""
    from django.core.management import call_command
    from django.db import connection

    if not given_url:
        call_command("migrate", verbosity=0, interactive=False)
        yield connection.settings_dict["NAME"]
        return
    original = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        scratch = str(tmp / "bench-scratch.sqlite3")
    else:
        scratch = f"spotopt_bench_{secrets.token_hex(4)}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = scratch
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    assert connection.settings_dict["NAME"] == scratch != original
    try:
        yield scratch
    finally:
        connection.close()
        if not keep:
            connection.creation.destroy_test_db(original, verbosity=0, keepdb=False)


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile (0.5 = median) of `values`, interpolated."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def free_port() -> int:
    """A free local TCP port (for the moto server or gunicorn a benchmark starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto_server():
    """moto as a server (ThreadedMotoServer) on a free local port, without its ~1,300 default AMIs and
    without the caller's AWS session token or profile leaking into the benchmark: (server, its URL). The
    caller stops it."""
    import logging

    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # before moto loads: faster start
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    return server, f"http://{host}:{port}"


@dataclass
class Scratch:
    """What moto_and_scratch_database set up: the temporary directory, moto's URL and the database's name."""

    tmp: Path
    moto_url: str
    database: str


@contextmanager
def moto_and_scratch_database(title: str, *, region: str = "us-east-1", **extra: str):
    """moto as a server, Django set up on a migrated scratch database (DEBUG off, as in production: Django
    keeps no in-memory log of every query), the benchmark's `title` and what it runs on printed; everything
    stopped and removed afterwards. `extra`: more settings' environment variables."""
    given_url = bool(os.environ.get("DATABASE_URL"))
    tmp = Path(tempfile.mkdtemp(prefix="spotopt-bench-"))
    server, moto_url = start_moto_server()
    try:
        database_kind = django_environment(
            tmp,
            AWS_ENDPOINT_URL=moto_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=region,
            PLATFORM_AWS_PRINCIPAL_ARN="",
            **extra,
        )
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        settings.DEBUG = False
        with scratch_database(tmp, given_url) as database_name:
            print(title)
            print(f"  database: {database_kind} ({connection.vendor}: {database_name})")
            print(f"  AWS: moto server at {moto_url}")
            yield Scratch(tmp=tmp, moto_url=moto_url, database=database_name)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
