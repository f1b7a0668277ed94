#!/usr/bin/env bash
# Play AWS in the running demo: announce that a Spot instance will be interrupted (or, with --rebalance,
# recommend rebalancing it). The demo's listener reads it off the account's queue and the safety net acts.
#   scripts/demo_interruption.sh i-0123456789abcdef0 [--rebalance]
# Uses the demo's settings (demo/demo.env, var/demo-secrets.env) and its moto (DEMO_MOTO_PORT, 5005).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 ]]; then
    echo "usage: $0 INSTANCE_ID [--rebalance]   (instance ids are on the Fleet page)" >&2
    exit 2
fi
VAR_DIR="${SPOTOPT_VAR_DIR:-var}"
set -a
# shellcheck source=../demo/demo.env
source demo/demo.env
# shellcheck disable=SC1090
source "$VAR_DIR/demo-secrets.env"
set +a
export AWS_ENDPOINT_URL="http://127.0.0.1:${DEMO_MOTO_PORT:-5005}"
export AWS_ACCESS_KEY_ID="demo-platform-key" AWS_SECRET_ACCESS_KEY="demo-platform-secret"
unset AWS_PROFILE AWS_SESSION_TOKEN
instance="$1"
shift
exec .venv/bin/python manage.py demo_interruption --instance "$instance" "$@"
