"""The Vagrant test VM: Vagrantfile, provisioning, systemd units, and the sipp smoke call.

A real `vagrant up` needs a hypervisor and a SignalWire token; what can be checked without them is checked
here: `vagrant validate`, shellcheck, the units, the token guard, and the smoke call's SIP and RFC 2833 side
(sipp against sipp on loopback). Missing tools skip locally and fail in CI (env CI set).
"""

import configparser
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.tools import require_tools

ROOT = Path(__file__).resolve().parents[2]
VAGRANT = ROOT / "vagrant"
SIPP = VAGRANT / "sipp"
SCRIPTS = [VAGRANT / "provision.sh", VAGRANT / "vm-smoke.sh", VAGRANT / "callrec-flask", ROOT / "sounds" / "generate.sh",
           ROOT / "freeswitch" / "install.sh"]
EVENT_KEYS = "0123456789*#ABCD"

sys.path.insert(0, str(SIPP))
import make_dtmf_pcap  # noqa: E402  (a script, not a package)




def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive in systemd units
    parser.read(VAGRANT / name)
    return parser


# --- Vagrantfile -----------------------------------------------------------------------------------

def test_vagrant_validate_accepts_the_vagrantfile():
    require_tools("vagrant")
    # --ignore-provider: CI and these machines have no hypervisor; the Vagrantfile's own configuration is checked
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vagrantfile_uses_debian_12_forwards_8080_and_passes_the_token_to_provisioning():
    text = (ROOT / "Vagrantfile").read_text()
    assert 'config.vm.box = "debian/bookworm64"' in text
    assert re.search(r'"forwarded_port", guest: 8080, host: 8080', text)
    assert 'path: "vagrant/provision.sh"' in text
    assert '"SIGNALWIRE_TOKEN" => ENV.fetch("SIGNALWIRE_TOKEN"' in text


# --- scripts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_scripts_pass_shellcheck(script):
    require_tools("shellcheck")
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_scripts_are_executable_and_strict(script):
    assert os.access(script, os.X_OK)
    assert "set -euo pipefail" in script.read_text()


def test_provisioning_without_a_token_stops_with_a_clear_message_before_changing_anything():
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "freeswitch"],
                               capture_output=True, text=True) if shutil.which("dpkg-query") else None
    if installed and "install ok installed" in installed.stdout:
        pytest.skip("FreeSWITCH is installed here, so the token is not needed")
    result = subprocess.run(["bash", str(VAGRANT / "provision.sh")], env={"PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "SIGNALWIRE_TOKEN is not set" in result.stderr
    assert "export SIGNALWIRE_TOKEN=" in result.stderr


def test_provisioning_installs_every_file_it_names_from_the_project():
    text = (VAGRANT / "provision.sh").read_text()
    for relative in re.findall(r'"\$SRC/([\w./-]+)"', text):
        assert (ROOT / relative).exists(), relative
    assert "freeswitch-meta-all" in text and "sip-tester" in text
    assert 'pip" install' in text and "requirements.txt" in text


def test_make_target_command_matches_the_smoke_script_path():
    assert (VAGRANT / "vm-smoke.sh").is_file()
    assert "bash /vagrant/vagrant/vm-smoke.sh" in (VAGRANT / "vm-smoke.sh").read_text()


# --- systemd units -----------------------------------------------------------------------------------

def test_controller_unit_runs_python_m_controller_with_the_environment_file():
    service = unit("callrec-controller.service")["Service"]
    assert service["ExecStart"] == "/opt/callrec/venv/bin/python -m controller"
    assert service["EnvironmentFile"] == "/etc/callrec/callrec.env"
    assert service["User"] == "callrec"
    assert service["SupplementaryGroups"] == "freeswitch"  # reads what FreeSWITCH records


def test_webui_unit_runs_gunicorn_on_all_interfaces_port_8080_with_the_environment_file():
    service = unit("callrec-webui.service")["Service"]
    assert service["ExecStart"].startswith("/opt/callrec/venv/bin/gunicorn ")
    assert "--bind 0.0.0.0:8080" in service["ExecStart"]
    assert service["ExecStart"].endswith("'webui:create_app()'")
    assert service["EnvironmentFile"] == "/etc/callrec/callrec.env"
    assert service["User"] == "callrec"


def test_units_restart_on_failure_and_start_at_boot():
    for name in ("callrec-controller.service", "callrec-webui.service"):
        parsed = unit(name)
        assert parsed["Service"]["Restart"] == "on-failure"
        assert parsed["Install"]["WantedBy"] == "multi-user.target"


# --- sipp scenarios and the DTMF packets ---------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(SIPP.glob("*.xml")), ids=lambda p: p.name)
def test_sipp_scenarios_are_well_formed(path):
    assert ET.parse(path).getroot().tag == "scenario"


def test_both_phones_offer_rfc_2833_telephone_events():
    for name in ("call_with_codes.xml", "answer.xml"):
        text = (SIPP / name).read_text()
        assert "a=rtpmap:101 telephone-event/8000" in text
        assert "RTP/AVP 0 8 101" in text


def test_the_call_scenario_plays_the_files_the_generator_writes(tmp_path):
    played = re.findall(r'play_pcap_audio="([^"]+)"', (SIPP / "call_with_codes.xml").read_text())
    written = [p.name for p in make_dtmf_pcap.write_code_pcaps(tmp_path, "*44", "*45")]
    assert played == written == ["dtmf_start.pcap", "dtmf_stop.pcap"]


def read_pcap_rtp(path):
    """[(seq, ts, marker, event, end, duration)] of the RTP packets in an Ethernet pcap."""
    data = Path(path).read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    packets, offset = [], 24
    while offset < len(data):
        _, _, length, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16: offset + 16 + length]
        packets.append(decode_rtp_event(frame[14 + 20 + 8:]))
        offset += 16 + length
    return packets


def decode_rtp_event(rtp):
    _, marker_pt, seq, ts, _ = struct.unpack_from("!BBHII", rtp)
    event, flags, duration = struct.unpack_from("!BBH", rtp, 12)
    assert marker_pt & 0x7F == 101
    return seq, ts, bool(marker_pt & 0x80), EVENT_KEYS[event], bool(flags & 0x80), duration


def keys_pressed(packets):
    """The keys a receiver sees: one per distinct (timestamp, event) that ends."""
    keys, seen = [], set()
    for _, ts, _, key, end, _ in packets:
        if end and (ts, key) not in seen:
            seen.add((ts, key))
            keys.append(key)
    return "".join(keys)


@pytest.mark.parametrize(("start", "stop"), [("*44", "*45"), ("#1#", "#2#"), ("12345678", "87654321")])
def test_dtmf_pcaps_carry_each_key_of_the_codes_as_its_own_event(tmp_path, start, stop):
    start_pcap, stop_pcap = make_dtmf_pcap.write_code_pcaps(tmp_path, start, stop)
    assert keys_pressed(read_pcap_rtp(start_pcap)) == start
    assert keys_pressed(read_pcap_rtp(stop_pcap)) == stop


def test_dtmf_pcaps_number_packets_upwards_and_give_a_repeated_key_a_new_timestamp(tmp_path):
    # A receiver takes a repeated key with the same timestamp for a retransmission: *44 would lose a 4.
    packets = [p for path in make_dtmf_pcap.write_code_pcaps(tmp_path, "*44", "*45") for p in read_pcap_rtp(path)]
    sequence = [seq for seq, *_ in packets]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    event_starts = [(ts, key) for _, ts, marker, key, _, _ in packets if marker]
    assert len(event_starts) == 6 and len({ts for ts, _ in event_starts}) == 6
    for ts, _ in event_starts:
        assert sum(1 for _, t, _, _, end, _ in packets if t == ts and end) == 3  # RFC 4733 end x3


def test_dtmf_generator_refuses_characters_that_are_not_dtmf(tmp_path):
    with pytest.raises(ValueError):
        make_dtmf_pcap.write_code_pcaps(tmp_path, "*4x", "*45")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_smoke_call_sends_the_start_and_stop_codes_as_rfc_2833_to_the_answering_phone(tmp_path):
    """sipp calls sipp on loopback (no FreeSWITCH): the answer's SDP points at a socket of this test."""
    require_tools("sipp")
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    media.settimeout(20)
    answer = tmp_path / "answer.xml"
    answer.write_text((SIPP / "answer.xml").read_text().replace(
        "m=audio [media_port]", f"m=audio {media.getsockname()[1]}"))
    make_dtmf_pcap.write_code_pcaps(tmp_path, "*44", "*45")
    callee_port = free_udp_port()
    common = ["-i", "127.0.0.1", "-m", "1", "-aa", "-nostdin", "-timeout", "30s", "-timeout_error"]
    callee = subprocess.Popen(["sipp", "-sf", str(answer), "-p", str(callee_port), "-mp", str(free_udp_port()),
                               *common], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # No wait for the callee to bind: the INVITE is retransmitted every 500 ms until answered.
        caller = subprocess.run(
            ["sipp", "-sf", str(SIPP / "call_with_codes.xml"), "-p", str(free_udp_port()),
             "-mp", str(free_udp_port()), "-s", "1001", "-key", "caller", "1000", "-key", "domain", "127.0.0.1",
             "-au", "1000", "-ap", "unused", "-set", "settle_ms", "0", "-set", "after_start_ms", "1000",
             "-set", "after_stop_ms", "1000", *common, f"127.0.0.1:{callee_port}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert caller.returncode == 0, caller.stdout[-3000:]
        assert callee.wait(timeout=30) == 0, callee.stdout.read().decode(errors="replace")[-3000:]
        packets = []
        media.settimeout(0.5)  # everything has been sent once both calls ended
        while True:
            try:
                packets.append(decode_rtp_event(media.recv(2048)))
            except socket.timeout:
                break
    finally:
        if callee.poll() is None:
            callee.kill()
        callee.stdout.close()
        media.close()
    assert keys_pressed(packets) == "*44*45"
