#!/usr/bin/env bash
# `make demo`: the web UI, the controller and the FreeSWITCH emulator together, with the demo accounts, a
# stream of scripted calls (DTMF codes, transfers, voicemail) and a local SMTP sink that prints the emails.
# Migrations were applied by `make`. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
FLASK=(.venv/bin/flask --app webui)
source scripts/secret_key.sh  # the web UI refuses the development key; every process needs the same one

export CALLREC_ESL_HOST=127.0.0.1
export CALLREC_ESL_PORT="${CALLREC_ESL_PORT:-8021}"
export CALLREC_ESL_PASSWORD="${CALLREC_ESL_PASSWORD:-ClueCon}"
export CALLREC_RECORDINGS_DIR="${CALLREC_RECORDINGS_DIR:-$PWD/var/recordings}"
export CALLREC_SOUNDS_DIR="${CALLREC_SOUNDS_DIR:-$PWD/sounds}"
export CALLREC_DELIVERY_INTERVAL="${CALLREC_DELIVERY_INTERVAL:-5}"
export CALLREC_POLICY_REFRESH_SECONDS="${CALLREC_POLICY_REFRESH_SECONDS:-1}"
export MAIL_SERVER=127.0.0.1
export MAIL_PORT="${DEMO_SMTP_PORT:-8025}"
export MAIL_USE_TLS=false MAIL_USE_SSL=false MAIL_USERNAME='' MAIL_PASSWORD=''
host="${CALLREC_WEB_HOST:-127.0.0.1}"
port="${CALLREC_WEB_PORT:-8080}"
mkdir -p "$CALLREC_RECORDINGS_DIR" var

"${FLASK[@]}" seed-demo
"${FLASK[@]}" create-admin admin --generate --if-none
# RecordsDelivery.Enabled = Yes, so the demo accounts' recordings are mailed (to the local sink below)
$PY - <<'PY'
from callrec.app import create_core_app
from callrec.models import db, ensure_singletons

app = create_core_app("demo")
with app.app_context():
    settings = ensure_singletons()
    settings.records_delivery_enabled = True
    db.session.commit()
print("RecordsDelivery.Enabled: yes")
PY

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "SMTP sink on 127.0.0.1:$MAIL_PORT (emails are printed below)"
$PY -m aiosmtpd -n -l "127.0.0.1:$MAIL_PORT" &
pids+=($!)
echo "FreeSWITCH emulator on 127.0.0.1:$CALLREC_ESL_PORT with scripted demo calls"
$PY -m tests.fakeswitch --port "$CALLREC_ESL_PORT" --password "$CALLREC_ESL_PASSWORD" --demo \
    --recordings-dir "$CALLREC_RECORDINGS_DIR" --sounds-dir "$CALLREC_SOUNDS_DIR" &
pids+=($!)
$PY -m controller &
pids+=($!)
echo "callrec web UI: http://$host:$port/login (user admin; password printed above if it was created now)"
.venv/bin/gunicorn --bind "$host:$port" --workers 2 --access-logfile - "webui:create_app()" &
pids+=($!)
wait -n "${pids[@]}"
