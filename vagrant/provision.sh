#!/bin/bash
# Provision the callrec test VM (Debian 12): FreeSWITCH from SignalWire's packages, callrec's FreeSWITCH
# configuration and sounds, callrec from the synced folder (/vagrant) in a venv, systemd units for the
# controller and the web UI, and sipp for the smoke call. Run by `vagrant up` / `vagrant provision` as root.
#
# Safe to run again: secrets are generated once and kept in /etc/callrec/, files are replaced, services
# restarted. Needs SIGNALWIRE_TOKEN (a SignalWire personal access token) until FreeSWITCH is installed.
set -euo pipefail

readonly SRC=/vagrant
readonly VENV=/opt/callrec/venv
readonly CONF_DIR=/etc/callrec
readonly ENV_FILE=/etc/callrec/callrec.env
readonly SMOKE_FILE=/etc/callrec/vm-smoke.env
readonly STATE_DIR=/var/lib/callrec
readonly RECORDINGS_DIR=/var/lib/callrec/recordings
readonly FS_CONF=/etc/freeswitch
readonly FS_SOUNDS=/usr/share/freeswitch/sounds
readonly FS_REPO=https://freeswitch.signalwire.com/repo/deb/debian-release
readonly FS_KEYRING=/usr/share/keyrings/signalwire-freeswitch-repo.gpg
readonly FS_AUTH=/etc/apt/auth.conf.d/freeswitch.conf

log() { printf '\n==> %s\n' "$*"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

freeswitch_installed() { dpkg-query -W -f='${Status}' freeswitch 2>/dev/null | grep -q 'install ok installed'; }

# --- The token, first: fail before changing anything. ---------------------------------------------
if ! freeswitch_installed && [ -z "${SIGNALWIRE_TOKEN:-}" ]; then
    cat >&2 <<'EOF'

ERROR: SIGNALWIRE_TOKEN is not set.

FreeSWITCH's Debian packages come from SignalWire's repository, which needs a personal access token.
Create one (free) in your SignalWire account, as linked from
  https://developer.signalwire.com/freeswitch/FreeSWITCH-Explained/Installation/Linux/Debian_67240088/
then, on the host:
  export SIGNALWIRE_TOKEN=pat_...
  vagrant provision          (or: vagrant up)
The token is only stored inside the VM, in /etc/apt/auth.conf.d/freeswitch.conf (mode 600).
EOF
    exit 1
fi

[ "$(id -u)" -eq 0 ] || die "run as root (vagrant runs it with sudo)"
[ -f "$SRC/requirements.txt" ] || die "$SRC/requirements.txt not found: is the project synced to $SRC?"

export DEBIAN_FRONTEND=noninteractive

# A value stored in an environment file, or a new random one (hex, so safe in XML, sed and shells).
secret() {
    local file=$1 name=$2 value=""
    if [ -f "$file" ]; then
        value="$(sed -n "s/^${name}=//p" "$file" | tail -n 1)"
    fi
    if [ -z "$value" ]; then
        value="$(openssl rand -hex 16)"
    fi
    printf '%s' "$value"
}

# --- Debian packages ------------------------------------------------------------------------------
log "Debian packages"
apt-get update -q
# sip-tester is Debian's sipp. python3-venv: callrec runs in a venv on Debian's Python 3.11.
apt-get install -y -q --no-install-recommends \
    ca-certificates curl gnupg openssl iproute2 python3 python3-venv sip-tester

# --- FreeSWITCH from SignalWire's repository (their documented Debian install) --------------------
if ! freeswitch_installed; then
    log "FreeSWITCH from $FS_REPO"
    install -d -m 0755 /etc/apt/auth.conf.d
    # apt's netrc-style credentials; curl reads the same file, so the token is never on a command line.
    (umask 077 && printf 'machine freeswitch.signalwire.com login signalwire password %s\n' \
        "$SIGNALWIRE_TOKEN" >"$FS_AUTH")
    if ! curl --fail --silent --show-error --netrc-file "$FS_AUTH" -o "$FS_KEYRING" \
        "$FS_REPO/signalwire-freeswitch-repo.gpg"; then
        rm -f "$FS_AUTH"
        die "SignalWire refused the token (or is unreachable). Check SIGNALWIRE_TOKEN and run 'vagrant provision' again."
    fi
    # shellcheck source=/dev/null
    codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
    printf 'deb [signed-by=%s] %s/ %s main\n' "$FS_KEYRING" "$FS_REPO" "$codename" \
        >/etc/apt/sources.list.d/freeswitch.list
    apt-get update -q
    # freeswitch-meta-all is what SignalWire's instructions install: every module, the vanilla
    # configuration, English prompts and music on hold. Large, but it is the tested combination.
    apt-get install -y -q freeswitch-meta-all
fi

# The packages ship the vanilla configuration under /usr/share; start from it if /etc is empty.
if [ ! -f "$FS_CONF/freeswitch.xml" ]; then
    log "Vanilla configuration into $FS_CONF"
    install -d -m 0755 "$FS_CONF"
    cp -a /usr/share/freeswitch/conf/vanilla/. "$FS_CONF/"
fi

# --- Users, directories, secrets ------------------------------------------------------------------
log "callrec user and directories"
if ! id callrec >/dev/null 2>&1; then
    useradd --system --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin callrec
fi
# FreeSWITCH writes the recordings (user freeswitch, umask 0007); callrec reads and deletes them.
usermod -a -G freeswitch callrec
install -d -o callrec -g callrec -m 0755 "$STATE_DIR"
install -d -o freeswitch -g freeswitch -m 2770 "$RECORDINGS_DIR"
install -d -o root -g callrec -m 0750 "$CONF_DIR"

esl_password="$(secret "$ENV_FILE" CALLREC_ESL_PASSWORD)"
secret_key="$(secret "$ENV_FILE" CALLREC_SECRET_KEY)"
sip_password="$(secret "$SMOKE_FILE" SIP_PASSWORD)"

# --- callrec's FreeSWITCH configuration and sounds -------------------------------------------------
# The same script the live test tier (tests/live/) installs them with: the VM and the tests cannot drift.
log "callrec configuration into $FS_CONF and announcements into $FS_SOUNDS/callrec"
bash "$SRC/freeswitch/install.sh" --conf "$FS_CONF" --sounds "$FS_SOUNDS" --group freeswitch \
    --esl-password "$esl_password" --sip-password "$sip_password"

# fs_cli talks to the same Event Socket and reads its password from here.
(umask 077 && printf '[default]\npassword => %s\n' "$esl_password" >/etc/fs_cli.conf)

# --- callrec in a venv ----------------------------------------------------------------------------
log "callrec into $VENV (pip install -r requirements.txt)"
install -d -m 0755 /opt/callrec
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$SRC/requirements.txt"

# The services' configuration (DESIGN.md §4 names). Rewritten on every run, secrets kept.
(umask 027 && cat >"$ENV_FILE" <<EOF
# callrec services' environment (written by vagrant/provision.sh; secrets are kept across runs).
CALLREC_DATABASE_URL=sqlite:///${STATE_DIR}/callrec.db
CALLREC_RECORDINGS_DIR=${RECORDINGS_DIR}
CALLREC_SOUNDS_DIR=${FS_SOUNDS}
CALLREC_ESL_HOST=127.0.0.1
CALLREC_ESL_PORT=8021
CALLREC_ESL_PASSWORD=${esl_password}
CALLREC_SECRET_KEY=${secret_key}
# No mail server in the VM: deliveries wait and retry. Point these at a real SMTP server to get emails.
MAIL_SERVER=127.0.0.1
MAIL_PORT=25
MAIL_DEFAULT_SENDER=callrec@callrec.test
EOF
)
chgrp callrec "$ENV_FILE"
(umask 077 && printf 'SIP_PASSWORD=%s\n' "$sip_password" >"$SMOKE_FILE")

install -m 0755 "$SRC/vagrant/callrec-flask" /usr/local/bin/callrec-flask

log "Database migrations"
callrec-flask db upgrade


log "Demo customers, products and accounts (idempotent)"
callrec-flask seed-demo

log "Web UI administrator 'admin' (a new password is printed once, below, on the first run)"
callrec-flask create-admin --if-none --generate admin

# --- Services ---------------------------------------------------------------------------------------
log "systemd units"
install -m 0644 "$SRC/vagrant/callrec-controller.service" "$SRC/vagrant/callrec-webui.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --quiet freeswitch callrec-controller callrec-webui
# FreeSWITCH reads event_socket settings only at module load: restart it for the new password.
systemctl restart freeswitch
systemctl restart callrec-controller callrec-webui

log "Waiting for FreeSWITCH's Event Socket and the web UI"
deadline=$((SECONDS + 90))
until fs_cli -x status >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "FreeSWITCH's Event Socket does not answer: journalctl -u freeswitch"
    sleep 1
done
until curl --silent --output /dev/null http://127.0.0.1:8080/login; do
    [ "$SECONDS" -lt "$deadline" ] || die "the web UI does not answer on :8080: journalctl -u callrec-webui"
    sleep 1
done

domain="$(fs_cli -x 'global_getvar domain' | tr -d '[:space:]')"
cat <<EOF

callrec VM ready.
  Web UI:         http://localhost:8080/ (from the host), user admin (password printed above, first run only)
  Smoke call:     make vm-smoke   (or: vagrant ssh -c 'bash /vagrant/vagrant/vm-smoke.sh')
  SIP demo users: 1000-1003 @ ${domain}, password in ${SMOKE_FILE} (vagrant ssh -c 'sudo cat ${SMOKE_FILE}')
  Logs:           journalctl -u callrec-controller -u callrec-webui -u freeswitch
EOF
