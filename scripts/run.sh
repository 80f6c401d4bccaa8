#!/usr/bin/env bash
# Start the web UI and the controller together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/secret_key.sh  # the web UI refuses the development key; both processes need the same one
host="${CALLREC_WEB_HOST:-127.0.0.1}"
port="${CALLREC_WEB_PORT:-8080}"
.venv/bin/python -m controller &
controller=$!
trap 'kill "$controller" 2>/dev/null || true' EXIT INT TERM
echo "callrec web UI: http://$host:$port/login"
exec .venv/bin/gunicorn --bind "$host:$port" --workers 2 --access-logfile - "webui:create_app()"
