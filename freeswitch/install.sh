#!/bin/bash
# Install callrec's FreeSWITCH drop-in (freeswitch/conf/) and announcements (sounds/callrec/) into a FreeSWITCH
# configuration. One script for every place that does it: the Vagrant VM's provisioning, the live test tier
# (tests/live/) and an ISP's own install, so none of them can drift from the others.
#
#   freeswitch/install.sh [--conf DIR] [--sounds DIR] [--esl-password PW] [--esl-port N]
#                         [--sip-password PW] [--group GROUP]
#
#   --conf DIR          FreeSWITCH's configuration (default /etc/freeswitch); must hold vars.xml
#   --sounds DIR        FreeSWITCH's sounds directory (default /usr/share/freeswitch/sounds); the announcements
#                       go to DIR/callrec/<rate>/, so CALLREC_SOUNDS_DIR=DIR
#   --esl-password PW   Event Socket password (vars_callrec.xml); the controller's CALLREC_ESL_PASSWORD
#   --esl-port N        Event Socket port (default 8021); the controller's CALLREC_ESL_PORT
#   --sip-password PW   the directory users' SIP password (vars.xml default_password). The stock 1234 makes the
#                       stock dialplan sleep 10 s before every call, so change it
#   --group GROUP       make the installed files group GROUP, mode 0640 (e.g. freeswitch); default: the owner's
#
# Safe to run again: files are replaced, the vars.xml include is added once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src_conf="$here/conf"
src_sounds="$here/../sounds/callrec"

conf=/etc/freeswitch
sounds=/usr/share/freeswitch/sounds
esl_password=""
esl_port=""
sip_password=""
group=""

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '6,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --conf) conf=${2:?}; shift 2 ;;
        --sounds) sounds=${2:?}; shift 2 ;;
        --esl-password) esl_password=${2:?}; shift 2 ;;
        --esl-port) esl_port=${2:?}; shift 2 ;;
        --sip-password) sip_password=${2:?}; shift 2 ;;
        --group) group=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

[ -f "$conf/vars.xml" ] || die "$conf/vars.xml not found: is $conf a FreeSWITCH configuration?"
# Values go into XML attributes and sed replacements: keep them to characters that are safe in both.
for value in "$esl_password" "$sip_password"; do
    [[ "$value" =~ ^[A-Za-z0-9._+-]*$ ]] || die "passwords may use letters, digits and . _ + - only"
done
[[ "$esl_port" =~ ^[0-9]*$ ]] || die "--esl-port must be a number"

mode_args=(-m 0644)
[ -n "$group" ] && mode_args=(-g "$group" -m 0640)

# --- the drop-in ----------------------------------------------------------------------------------------
(cd "$src_conf" && find . -type f ! -name README.md -print0) |
    while IFS= read -r -d '' file; do
        install -D "${mode_args[@]}" "$src_conf/$file" "$conf/$file"
    done

set_var() {  # set_var FILE NAME VALUE: change a preprocessor variable <X-PRE-PROCESS cmd="set" data="NAME=...">
    local file=$1 name=$2 value=$3
    sed -i "s|data=\"${name}=[^\"]*\"|data=\"${name}=${value}\"|" "$file"
    grep -q "data=\"${name}=${value}\"" "$file" || die "could not set ${name} in ${file}"
}

[ -n "$esl_password" ] && set_var "$conf/vars_callrec.xml" callrec_esl_password "$esl_password"
[ -n "$esl_port" ] && set_var "$conf/vars_callrec.xml" callrec_esl_port "$esl_port"
[ -n "$sip_password" ] && set_var "$conf/vars.xml" default_password "$sip_password"

# vars.xml includes vars_callrec.xml at its end (after sounds_dir and friends are known).
if ! grep -q 'data="vars_callrec.xml"' "$conf/vars.xml"; then
    sed -i 's|^</include>|  <X-PRE-PROCESS cmd="include" data="vars_callrec.xml"/>\n</include>|' "$conf/vars.xml"
fi
grep -q 'data="vars_callrec.xml"' "$conf/vars.xml" || die "could not include vars_callrec.xml from $conf/vars.xml"

# --- the announcements ----------------------------------------------------------------------------------
for rate_dir in "$src_sounds"/*/; do
    rate=$(basename "$rate_dir")
    install -d -m 0755 "$sounds/callrec/$rate"
    install -m 0644 "$rate_dir"*.wav "$sounds/callrec/$rate/"
done

printf 'callrec drop-in installed into %s, announcements into %s/callrec\n' "$conf" "$sounds"
