#!/usr/bin/env bash
# The whole demo on one machine, run the way production runs (demo/demo.env: DEBUG off, whitenoise, gunicorn):
# moto (the demo AWS), migrations, static files, the demo estate, schedules, the django-q2 cluster, the
# interruption-event listener and the web server, then a sign-in summary. Run from the repo root once .venv
# exists (`make demo` does both).
#   PORT (8000)            web server port          DEMO_MOTO_PORT (5005)  moto server port
#   SPOTOPT_VAR_DIR (var)  logs go to $SPOTOPT_VAR_DIR/log; the SQLite file lives there unless DATABASE_URL is set
# Ctrl-C stops everything this script started.
set -euo pipefail

cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [[ ! -x "$PY" ]]; then
    echo "No virtualenv at .venv: run 'make install' first." >&2
    exit 1
fi

PORT="${PORT:-8000}"
MOTO_PORT="${DEMO_MOTO_PORT:-5005}"
VAR_DIR="${SPOTOPT_VAR_DIR:-var}"
LOG_DIR="$VAR_DIR/log"
mkdir -p "$LOG_DIR"

set -a
# shellcheck source=../demo/demo.env
source demo/demo.env
set +a
# Production needs its own secrets (DEBUG is off): the demo makes them once and keeps them in var/, so
# sessions and encrypted credentials survive a restart.
SECRETS="$VAR_DIR/demo-secrets.env"
if [[ ! -s "$SECRETS" ]]; then
    (umask 077 && "$PY" -c 'import base64, os, secrets
print("SECRET_KEY=" + secrets.token_urlsafe(50))
print("CREDENTIALS_ENCRYPTION_KEYS=demo1:" + base64.b64encode(os.urandom(32)).decode())' >"$SECRETS")
fi
set -a
# shellcheck disable=SC1090
source "$SECRETS"
set +a
# The platform's own credentials are dummy ones: every AWS call goes to moto, never to real AWS.
export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
export AWS_ACCESS_KEY_ID="demo-platform-key"
export AWS_SECRET_ACCESS_KEY="demo-platform-secret"
unset AWS_PROFILE AWS_SESSION_TOKEN
export SITE_URL="${SITE_URL:-http://127.0.0.1:${PORT}}"
SUMMARY="$VAR_DIR/demo-summary.txt"

# Background processes get their own process group (setsid): a signal sent to this script's whole group
# (Ctrl-C, `timeout`) then reaches only this script, whose trap stops each process cleanly. django-q's
# cluster hangs when its workers are killed under it.
SETSID="$(command -v setsid || true)"
pids=()
start_bg() {
    local log="$1"
    shift
    $SETSID "$@" >"$log" 2>&1 &
    pids+=("$!")
}
any_alive() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}
cleanup() {
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Up to 10 s for a clean stop, then kill what is left (with its workers).
    for _ in $(seq 1 50); do
        any_alive || break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if curl -s -o /dev/null "$AWS_ENDPOINT_URL"; then
    echo "Port $MOTO_PORT already answers; set DEMO_MOTO_PORT to a free port." >&2
    exit 1
fi
echo "Starting moto on $AWS_ENDPOINT_URL (log: $LOG_DIR/moto.log)"
start_bg "$LOG_DIR/moto.log" .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT"
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "$AWS_ENDPOINT_URL/moto-api/"; then
        break
    fi
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo "moto_server exited; see $LOG_DIR/moto.log" >&2
        exit 1
    fi
    sleep 0.2
done
if ! curl -s -o /dev/null "$AWS_ENDPOINT_URL/moto-api/"; then
    echo "moto did not answer on $AWS_ENDPOINT_URL within 20 s; see $LOG_DIR/moto.log" >&2
    exit 1
fi

# The demo's Kubernetes cluster: a real kube-apiserver on 127.0.0.1 when its binary has been built once
# (`make kube-apiserver`, cached outside the repository); the seed registers it and drains its nodes.
KUBE_DIR="$VAR_DIR/kube"
mkdir -p "$KUBE_DIR"
rm -f "$KUBE_DIR/access.json" "$KUBE_DIR/join.json"
if kube_missing="$("$PY" -m demo.kube_local check 2>&1)"; then
    echo "Starting the local kube-apiserver for the demo's cluster acme-prod-eks (log: $LOG_DIR/kube.log)"
    start_bg "$LOG_DIR/kube.log" "$PY" -m demo.kube_local serve --dir "$KUBE_DIR"
    kube_pid="${pids[-1]}"
    for _ in $(seq 1 300); do
        [[ -s "$KUBE_DIR/access.json" ]] && break
        kill -0 "$kube_pid" 2>/dev/null || break
        sleep 0.2
    done
    if [[ ! -s "$KUBE_DIR/access.json" ]]; then
        echo "The local kube-apiserver did not start (see $LOG_DIR/kube.log): the demo's cluster stays unregistered."
    fi
else
    echo "Kubernetes: ${kube_missing}. The demo's cluster acme-prod-eks is shown without drains."
fi

"$PY" manage.py migrate --no-input
"$PY" manage.py collectstatic --no-input --verbosity 0
"$PY" manage.py seed_demo --summary-file "$SUMMARY"
"$PY" manage.py setup_schedules

echo "Starting the django-q2 cluster (log: $LOG_DIR/qcluster.log)"
start_bg "$LOG_DIR/qcluster.log" "$PY" manage.py qcluster

echo "Starting the interruption-event listener (log: $LOG_DIR/listener.log)"
start_bg "$LOG_DIR/listener.log" "$PY" manage.py listen_events

echo "Starting the web server on $SITE_URL (gunicorn; log: $LOG_DIR/web.log)"
start_bg "$LOG_DIR/web.log" .venv/bin/gunicorn spotopt.wsgi --bind "127.0.0.1:${PORT}" --workers 2 \
    --access-logfile - --error-logfile -
web_pid="${pids[-1]}"
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "$SITE_URL/healthz"; then
        break
    fi
    if ! kill -0 "$web_pid" 2>/dev/null; then
        echo "The web server exited; see $LOG_DIR/web.log" >&2
        exit 1
    fi
    sleep 0.2
done
# Last on the screen: where to sign in, with whom (the file held the passwords; it goes now).
cat "$SUMMARY"
rm -f "$SUMMARY"
echo "Logs: $LOG_DIR/ (web.log, qcluster.log, listener.log, moto.log, kube.log). Ctrl-C stops moto, the"
echo "kube-apiserver, the task cluster, the listener and the web server."
# Waited for in the background: bash runs its traps only between commands, and `wait` is interrupted
# by a signal where a foreground command is not.
wait "$web_pid"
