"""A real kube-apiserver and etcd on 127.0.0.1 for the demo's Kubernetes cluster and the Kubernetes tests.

The server is the binary scripts/kube_apiserver.sh builds from Debian's source (cached outside the repo);
etcd is Debian's etcd-server. Both run from a directory with a self-signed serving certificate (kept there
and reused on the next start, so the CA the demo registered stays valid), a static token file (an admin in
system:masters, and a user with no RBAC at all), RBAC on, and no controller-manager, scheduler or kubelet:
`demo.kubelet.Kubelet` plays the parts a demo or a test needs, and says so.

    python -m demo.kube_local serve --dir var/kube    # the demo's cluster (scripts/run_demo.sh starts it)
"""

# It starts the local etcd and kube-apiserver binaries and polls its own https://127.0.0.1 URL: nothing here
# comes from a user.
# ruff: noqa: S310, S603, S607

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.20.2"
ADMIN_TOKEN = "spotopt-test-admin-token"  # a test cluster's own credentials, nothing real
NOBODY_TOKEN = "spotopt-test-nobody-token"


def apiserver_binary() -> Path | None:
    explicit = os.environ.get("SPOTOPT_KUBE_APISERVER")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cache = Path(os.environ.get("SPOTOPT_KUBE_CACHE", Path.home() / ".cache/spotopt/kube"))
    binary = cache / "bin" / f"kube-apiserver-{VERSION}"
    return binary if binary.is_file() else None


def missing_reason() -> str | None:
    """Why the real server cannot be started here (None: it can)."""
    if apiserver_binary() is None:
        return "no kube-apiserver binary: run scripts/kube_apiserver.sh (builds it once, about 12 minutes)"
    if shutil.which("etcd") is None:
        return "no etcd: apt-get install etcd-server"
    if shutil.which("openssl") is None:
        return "no openssl"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningApiserver:
    endpoint: str
    ca_pem: str
    admin_token: str
    nobody_token: str
    directory: Path
    processes: list

    def stop(self, *, remove: bool = True) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


def _wait_ready(endpoint: str, token: str, context: ssl.SSLContext, process, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kube-apiserver exited ({process.returncode}): {log.read_text()[-2000:]}")
        request = urllib.request.Request(f"{endpoint}/readyz", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"kube-apiserver was not ready within {seconds} s: {log.read_text()[-2000:]}")


def start_apiserver(directory: Path | None = None, *, api_port: int = 0, etcd_port: int = 0) -> RunningApiserver:
    directory = Path(directory or tempfile.mkdtemp(prefix="spotopt-kube-"))
    directory.mkdir(parents=True, exist_ok=True)
    etcd_port, peer_port, api_port = etcd_port or _free_port(), _free_port(), api_port or _free_port()
    processes = []
    etcd_log = directory / "etcd.log"
    processes.append(
        subprocess.Popen(
            [
                "etcd",
                "--data-dir",
                str(directory / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer_port}",
            ],
            stdout=etcd_log.open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    key = directory / "sa.key"
    if not key.exists():
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    tokens = directory / "tokens.csv"
    tokens.write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n{NOBODY_TOKEN},nobody,nobody-uid\n')
    certs = directory / "certs"
    api_log = directory / "apiserver.log"
    processes.append(
        subprocess.Popen(
            [
                str(apiserver_binary()),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={certs}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                "--service-cluster-ip-range=10.96.0.0/24",
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
            ],
            stdout=api_log.open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    endpoint = f"https://127.0.0.1:{api_port}"
    server = RunningApiserver(endpoint, "", ADMIN_TOKEN, NOBODY_TOKEN, directory, processes)
    try:
        cert = certs / "apiserver.crt"
        deadline = time.monotonic() + 30
        while not cert.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        context = ssl.create_default_context(cafile=str(cert))
        _wait_ready(endpoint, ADMIN_TOKEN, context, processes[-1], api_log)
        server.ca_pem = cert.read_text()
    except Exception:
        server.stop()
        raise
    return server


def serve(directory: Path, *, api_port: int, etcd_port: int) -> None:
    """The demo's cluster: the server until SIGTERM, its access in DIR/access.json for the seed, and the
    kubelet stand-in finishing evicted pods and joining new instances (DIR/join.json names the cluster and
    the role to list the account's instances with)."""
    import json
    import signal

    from .kubelet import Kubelet

    server = start_apiserver(directory, api_port=api_port, etcd_port=etcd_port)
    access = {"endpoint": server.endpoint, "ca_pem": server.ca_pem, "token": server.admin_token}
    (directory / "access.json").write_text(json.dumps(access))
    print(f"kube-apiserver {VERSION} on {server.endpoint} (etcd on 127.0.0.1:{etcd_port})", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    kubelet = Kubelet(server)
    try:
        while not stopping:
            try:
                kubelet.finish_terminating()
                join = directory / "join.json"
                if join.exists():
                    kubelet.join_from(json.loads(join.read_text()))
            except Exception as error:  # keep serving; the log says what went wrong
                print(f"kubelet stand-in: {type(error).__name__}: {error}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        (directory / "access.json").unlink(missing_ok=True)
        server.stop(remove=False)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve", "check"])
    parser.add_argument("--dir", type=Path, default=Path("var/kube"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_KUBE_PORT", "16443")))
    parser.add_argument("--etcd-port", type=int, default=int(os.environ.get("DEMO_ETCD_PORT", "12379")))
    arguments = parser.parse_args()
    if arguments.command == "check":
        reason = missing_reason()
        print(reason or "ready")
        raise SystemExit(1 if reason else 0)
    serve(arguments.dir, api_port=arguments.port, etcd_port=arguments.etcd_port)
