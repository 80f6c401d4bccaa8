#!/bin/bash
# The callrec VM smoke test: a real SIP call through FreeSWITCH, 1000 -> 1001, with the start and stop
# codes pressed as RFC 2833 DTMF, then a check with the REST API that a recording of 1000 appeared.
#
#   vagrant ssh -c 'bash /vagrant/vagrant/vm-smoke.sh'           (make vm-smoke)
#   CALLER=1002 CALLEE=1003 bash /vagrant/vagrant/vm-smoke.sh     (Carol, "Manual only": only the codes record)
#
# Runs as the vagrant user and uses sudo for the secrets and the Flask CLI. Exit 0 = a recording appeared.
set -euo pipefail

CALLER="${CALLER:-1000}"
CALLEE="${CALLEE:-1001}"
START_CODE="${START_CODE:-*44}"
STOP_CODE="${STOP_CODE:-*45}"
readonly here=/vagrant/vagrant
readonly venv_python=/opt/callrec/venv/bin/python
# The callee's phone (register, then answer) and the caller's phone use their own SIP ports next to
# FreeSWITCH's 5060 on the same address.
readonly callee_port=5071 caller_port=5070

log() { printf '==> %s\n' "$*"; }

work="$(mktemp -d)"
callee_pid=""
cleanup() {
    if [ -n "$callee_pid" ] && kill -0 "$callee_pid" 2>/dev/null; then
        kill "$callee_pid" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

sip_password="$(sudo sed -n 's/^SIP_PASSWORD=//p' /etc/callrec/vm-smoke.env)"
domain="$(sudo fs_cli -x 'global_getvar domain' | tr -d '[:space:]')"
# The internal SIP profile listens on local_ip_v4 (the stock default); so does the stock domain.
fs_ip="$(sudo fs_cli -x 'global_getvar local_ip_v4' | tr -d '[:space:]')"
if [ -z "$sip_password" ] || [ -z "$domain" ] || [ -z "$fs_ip" ]; then
    echo "vm-smoke: FreeSWITCH or the provisioning is not ready (run vagrant provision)" >&2
    exit 1
fi

log "API token"
CALLREC_API_TOKEN="$(sudo callrec-flask create-token "vm-smoke-$(date +%Y%m%d%H%M%S)" | tail -n 1)"
export CALLREC_API_TOKEN

log "Demo accounts $CALLER and $CALLEE"
"$venv_python" "$here/smoke_api.py" ensure-accounts "$CALLER" "$CALLEE"
"$venv_python" "$here/smoke_api.py" recording-ids >"$work/seen-ids"

log "RFC 2833 packets for $START_CODE and $STOP_CODE"
python3 "$here/sipp/make_dtmf_pcap.py" "$work" "$START_CODE" "$STOP_CODE" >/dev/null

sipp_common=(-i "$fs_ip" -m 1 -aa -nostdin -timeout 120s -timeout_error -key domain "$domain")

log "Register $CALLEE"
sipp -sf "$here/sipp/register.xml" "${sipp_common[@]}" -p "$callee_port" \
    -s "$CALLEE" -au "$CALLEE" -ap "$sip_password" "$fs_ip:5060" >"$work/register.log" 2>&1 ||
    { tail -n 40 "$work/register.log" >&2; echo "vm-smoke: registering $CALLEE failed" >&2; exit 1; }

log "$CALLEE answers"
sipp -sf "$here/sipp/answer.xml" "${sipp_common[@]}" -p "$callee_port" -mp 6100 \
    "$fs_ip:5060" >"$work/answer.log" 2>&1 &
callee_pid=$!
# Call only once the callee's phone listens, or FreeSWITCH's INVITE would go nowhere.
deadline=$((SECONDS + 10))
until ss -Hlun "sport = :$callee_port" | grep -q .; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "vm-smoke: the callee's sipp did not start" >&2; exit 1; }
    sleep 0.2
done

log "$CALLER calls $CALLEE, presses $START_CODE, then $STOP_CODE"
# play_pcap_audio reads dtmf_start.pcap / dtmf_stop.pcap from the current directory.
if ! (cd "$work" && sipp -sf "$here/sipp/call_with_codes.xml" "${sipp_common[@]}" -p "$caller_port" -mp 6200 \
    -s "$CALLEE" -key caller "$CALLER" -au "$CALLER" -ap "$sip_password" \
    -set settle_ms 3000 -set after_start_ms 5000 -set after_stop_ms 4000 \
    "$fs_ip:5060" >"$work/call.log" 2>&1); then
    tail -n 40 "$work/call.log" >&2
    echo "vm-smoke: the call failed (see above; FreeSWITCH: sudo fs_cli -x 'show calls')" >&2
    exit 1
fi
if ! wait "$callee_pid"; then
    tail -n 40 "$work/answer.log" >&2
    echo "vm-smoke: the callee's side of the call failed" >&2
    exit 1
fi
callee_pid=""

log "Waiting for the recording of $CALLER in the API"
if ! "$venv_python" "$here/smoke_api.py" wait-recording "$CALLER" "$work/seen-ids"; then
    echo "vm-smoke: FAILED. Controller log: sudo journalctl -u callrec-controller --since '-5 min'" >&2
    exit 1
fi
log "OK: a recording of $CALLER appeared"
