#!/bin/bash
# The callrec VM smoke test: a real SIP call through FreeSWITCH, 1000 -> 1001, with the caller's start and
# stop codes pressed as RFC 2833 DTMF, then a check with the REST API that a recording of 1000 appeared.
#
#   vagrant ssh -c 'bash /vagrant/vagrant/vm-smoke.sh'           (make vm-smoke)
#   CALLER=1002 CALLEE=1003 bash /vagrant/vagrant/vm-smoke.sh     (Carol, "Manual only": only the codes record)
#
# In the VM it runs as the vagrant user and uses sudo for the secrets, fs_cli and the Flask CLI. Exit 0 = a
# recording appeared.
#
# Every VM-specific value can be changed through the environment (defaults: the VM's), so the same script
# also runs against another FreeSWITCH, e.g. the live test tier's (tests/live/test_live_vm_smoke.py):
#   CALLER, CALLEE          the calling and the called demo user (1000, 1001)
#   START_CODE, STOP_CODE   the codes to press; default: the caller's effective codes, from the REST API
#                           (GET /api/v1/accounts/<id>/effective-policy: its dialing rule's, else *44 / *45)
#   CALLREC_PROJECT_DIR     the project (/vagrant)
#   SMOKE_PYTHON            the Python that runs vagrant/smoke_api.py (/opt/callrec/venv/bin/python)
#   FS_CLI                  fs_cli command and arguments, split at spaces ("sudo fs_cli"; fs_cli reads the
#                           Event Socket password from /etc/fs_cli.conf), e.g. "fs_cli -P 8021 -p PASSWORD"
#   FS_IP, SIP_DOMAIN       FreeSWITCH's SIP address and domain (asked from FreeSWITCH: local_ip_v4, domain)
#   FS_SIP_PORT             the internal SIP profile's port (5060)
#   SIP_PASSWORD            the demo users' SIP password (read from SMOKE_ENV_FILE, /etc/callrec/vm-smoke.env)
#   FLASK                   the Flask CLI command for create-token, split at spaces ("sudo callrec-flask");
#                           run in CALLREC_PROJECT_DIR. CALLREC_API_TOKEN, if set, is used instead
#   CALLREC_API_URL         the REST API (http://127.0.0.1:8080/api/v1)
#   CALLEE_PORT, CALLER_PORT                 the phones' SIP ports (5071, 5070)
#   CALLEE_MEDIA_PORT, CALLER_MEDIA_PORT     their RTP ports (6100, 6200)
#   SETTLE_MS, AFTER_START_MS, AFTER_STOP_MS the caller's pauses: after the answer, after each code
#                                            (3000, 5000, 4000)
#   SIPP_TIMEOUT            how long any one sipp may run (120s)
set -euo pipefail

CALLER="${CALLER:-1000}"
CALLEE="${CALLEE:-1001}"
START_CODE="${START_CODE:-}"
STOP_CODE="${STOP_CODE:-}"
CALLREC_PROJECT_DIR="${CALLREC_PROJECT_DIR:-/vagrant}"
export CALLREC_PROJECT_DIR
readonly here="$CALLREC_PROJECT_DIR/vagrant"
readonly smoke_python="${SMOKE_PYTHON:-/opt/callrec/venv/bin/python}"
read -r -a fs_cli <<<"${FS_CLI:-sudo fs_cli}"
read -r -a flask <<<"${FLASK:-sudo callrec-flask}"
readonly smoke_env_file="${SMOKE_ENV_FILE:-/etc/callrec/vm-smoke.env}"
readonly fs_sip_port="${FS_SIP_PORT:-5060}"
# The callee's phone (register, then answer) and the caller's phone use their own SIP ports next to
# FreeSWITCH's on the same address.
readonly callee_port="${CALLEE_PORT:-5071}" caller_port="${CALLER_PORT:-5070}"
readonly callee_media_port="${CALLEE_MEDIA_PORT:-6100}" caller_media_port="${CALLER_MEDIA_PORT:-6200}"
readonly sipp_timeout="${SIPP_TIMEOUT:-120s}"

log() { printf '==> %s\n' "$*"; }
fs() { "${fs_cli[@]}" -x "$1" | tr -d '[:space:]'; }

work="$(mktemp -d)"
callee_pid=""
registered=""
cleanup() {
    if [ -n "$callee_pid" ] && kill -0 "$callee_pid" 2>/dev/null; then
        kill "$callee_pid" || true
        wait "$callee_pid" 2>/dev/null || true
    fi
    if [ -n "$registered" ]; then
        # Remove the callee's contact again: nothing listens on it any more, and FreeSWITCH would go on
        # ringing it (next to any other phone of the user) until it expires.
        sipp -sf "$here/sipp/register.xml" "${sipp_common[@]}" -m 1 -p "$callee_port" -key expires 0 \
            -s "$CALLEE" -au "$CALLEE" -ap "$sip_password" "$fs_ip:$fs_sip_port" >"$work/unregister.log" 2>&1 ||
            echo "vm-smoke: could not unregister $CALLEE (harmless: the contact expires in 5 minutes)" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${SIP_PASSWORD:-}" ]; then
    sip_password="$SIP_PASSWORD"
else
    sip_password="$(sudo sed -n 's/^SIP_PASSWORD=//p' "$smoke_env_file")"
fi
domain="${SIP_DOMAIN:-$(fs 'global_getvar domain')}"
# The internal SIP profile listens on local_ip_v4 (the stock default); so does the stock domain.
fs_ip="${FS_IP:-$(fs 'global_getvar local_ip_v4')}"
if [ -z "$sip_password" ] || [ -z "$domain" ] || [ -z "$fs_ip" ]; then
    echo "vm-smoke: FreeSWITCH or the provisioning is not ready (run vagrant provision)" >&2
    exit 1
fi

if [ -z "${CALLREC_API_TOKEN:-}" ]; then
    log "API token"
    CALLREC_API_TOKEN="$(cd "$CALLREC_PROJECT_DIR" && "${flask[@]}" create-token "vm-smoke-$(date +%Y%m%d%H%M%S)" |
        tail -n 1)"
fi
export CALLREC_API_TOKEN

log "Demo accounts $CALLER and $CALLEE"
"$smoke_python" "$here/smoke_api.py" ensure-accounts "$CALLER" "$CALLEE"
"$smoke_python" "$here/smoke_api.py" recording-ids >"$work/seen-ids"

if [ -z "$START_CODE" ] || [ -z "$STOP_CODE" ]; then
    read -r api_start api_stop < <("$smoke_python" "$here/smoke_api.py" codes "$CALLER")
    START_CODE="${START_CODE:-$api_start}"
    STOP_CODE="${STOP_CODE:-$api_stop}"
    if [ -z "$START_CODE" ] || [ -z "$STOP_CODE" ]; then
        echo "vm-smoke: could not read $CALLER's codes from the API" >&2
        exit 1
    fi
fi

log "RFC 2833 packets for $START_CODE and $STOP_CODE ($CALLER's codes)"
"$smoke_python" "$here/sipp/make_dtmf_pcap.py" "$work" "$START_CODE" "$STOP_CODE" >/dev/null

sipp_common=(-i "$fs_ip" -aa -nostdin -timeout "$sipp_timeout" -timeout_error -key domain "$domain")

log "Register $CALLEE"
registered=yes
sipp -sf "$here/sipp/register.xml" "${sipp_common[@]}" -m 1 -p "$callee_port" -key expires 300 \
    -s "$CALLEE" -au "$CALLEE" -ap "$sip_password" "$fs_ip:$fs_sip_port" >"$work/register.log" 2>&1 ||
    { tail -n 40 "$work/register.log" >&2; echo "vm-smoke: registering $CALLEE failed" >&2; exit 1; }

log "$CALLEE answers"
# No -m 1: FreeSWITCH's message-waiting NOTIFY right after the REGISTER would count as sipp's one call. The
# scenario stops sipp itself once its call is done (stop_when_done), with exit code 97.
sipp -sf "$here/sipp/answer.xml" "${sipp_common[@]}" -set stop_when_done 1 -p "$callee_port" \
    -mp "$callee_media_port" "$fs_ip:$fs_sip_port" >"$work/answer.log" 2>&1 &
callee_pid=$!
# Call only once the callee's phone listens, or FreeSWITCH's INVITE would go nowhere.
deadline=$((SECONDS + 10))
until ss -Hlun "sport = :$callee_port" | grep -q .; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "vm-smoke: the callee's sipp did not start" >&2; exit 1; }
    sleep 0.2
done

log "$CALLER calls $CALLEE, presses $START_CODE, then $STOP_CODE"
# play_pcap_audio reads dtmf_start.pcap / dtmf_stop.pcap from the current directory.
if ! (cd "$work" && sipp -sf "$here/sipp/call_with_codes.xml" "${sipp_common[@]}" -m 1 -p "$caller_port" \
    -mp "$caller_media_port" -s "$CALLEE" -key caller "$CALLER" -au "$CALLER" -ap "$sip_password" \
    -set settle_ms "${SETTLE_MS:-3000}" -set after_start_ms "${AFTER_START_MS:-5000}" \
    -set after_stop_ms "${AFTER_STOP_MS:-4000}" \
    "$fs_ip:$fs_sip_port" >"$work/call.log" 2>&1); then
    tail -n 40 "$work/call.log" >&2
    echo "vm-smoke: the call failed (see above; FreeSWITCH: ${fs_cli[*]} -x 'show calls')" >&2
    exit 1
fi
callee_status=0
wait "$callee_pid" || callee_status=$?
callee_pid=""
if [ "$callee_status" -ne 97 ]; then  # 97: the scenario's own stop_now, after the BYE; anything else failed
    tail -n 40 "$work/answer.log" >&2
    echo "vm-smoke: the callee's side of the call failed (sipp exit code $callee_status)" >&2
    exit 1
fi

log "Waiting for the recording of $CALLER in the API"
if ! "$smoke_python" "$here/smoke_api.py" wait-recording "$CALLER" "$work/seen-ids"; then
    echo "vm-smoke: FAILED. Controller log: sudo journalctl -u callrec-controller --since '-5 min'" >&2
    exit 1
fi
log "OK: a recording of $CALLER appeared"
