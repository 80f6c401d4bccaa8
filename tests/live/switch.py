"""A real FreeSWITCH for the live tier: the package's loopback configuration plus callrec's own drop-in.

The configuration is made the way an ISP's is: the stock (vanilla) configuration, made loopback-only by the
package's `make-loopback-conf.sh`, then `freeswitch/install.sh` — the same script the Vagrant VM's provisioning
runs — installs callrec's drop-in and announcements. Only test-speed settings differ from a real install: free
ports instead of 5060/8021, a non-1234 SIP password (no 10 s guard) and a short ring time before voicemail.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path("/usr/share/doc/freeswitch/examples")
RING_SECONDS = 4  # Local_Extension's call_timeout (30 s stock) before the divert to voicemail


RECORD_SESSION_EXTENSION = """<include>
  <extension name="live_record_session">
    <condition field="destination_number" expression="^77(10[01][0-9])$">
      <action application="set" data="execute_on_answer=record_session $${recordings_dir}/dialplan-${uuid}.wav"/>
      <action application="bridge" data="user/$1@${domain_name}"/>
    </condition>
  </extension>
</include>
"""


# An ISP's dialplan forwarding a DID / hunt number that is no account's number: it names the forwarding account in
# the Diversion header it sets on the caller's leg (mod_sofia copies every sip_h_* onto the leg it originates),
# with no callrec_redirected_by.
DID_FORWARD_NUMBER, DID_FORWARDING_ACCOUNT, DID_FORWARD_TARGET = "5550100", "1001", "1002"
DID_FORWARD_EXTENSION = f"""<include>
  <extension name="live_did_forward">
    <condition field="destination_number" expression="^{DID_FORWARD_NUMBER}$">
      <action application="set"
              data="sip_h_Diversion=&lt;sip:{DID_FORWARDING_ACCOUNT}@${{domain_name}}&gt;;reason=unconditional"/>
      <action application="bridge" data="user/{DID_FORWARD_TARGET}@${{domain_name}}"/>
    </condition>
  </extension>
</include>
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP (a SIP profile binds both)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def free_media_port() -> int:
    """An even UDP port with the next three free too (sipp's RTP/RTCP pairs), so that another live run on the
    same machine cannot hold a phone's media ports."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1] & ~1
        held = []
        try:
            for port in range(base, base + 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free media ports")


def _set_var(path: Path, name: str, value: str) -> None:
    text, count = re.subn(rf'data="{re.escape(name)}=[^"]*"', f'data="{name}={value}"', path.read_text())
    assert count, f"{path}: no {name}"
    path.write_text(text)


@dataclass
class FreeSwitch:
    base: Path
    esl_password: str = "live-esl-secret"
    sip_password: str = "live-sip-secret"
    domain: str = "127.0.0.1"
    esl_port: int = field(default_factory=free_port)
    sip_port: int = field(default_factory=free_udp_tcp_port)
    external_port: int = field(default_factory=free_udp_tcp_port)

    @property
    def conf(self) -> Path:
        return self.base / "conf"

    @property
    def sounds(self) -> Path:
        return self.base / "sounds"

    @property
    def recordings(self) -> Path:
        return self.base / "recordings"

    @property
    def log_file(self) -> Path:
        return self.base / "log" / "freeswitch.log"

    def _dirs(self) -> dict[str, Path]:
        return {name: self.base / name for name in ("log", "db", "run", "storage", "cache", "certs")}

    def configure(self) -> None:
        subprocess.run([str(EXAMPLES / "make-loopback-conf.sh"), str(self.conf)], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["python3", str(EXAMPLES / "make-placeholder-sounds.py"), str(self.conf), str(self.sounds)],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["bash", str(ROOT / "freeswitch" / "install.sh"), "--conf", str(self.conf),
                        "--sounds", str(self.sounds), "--esl-password", self.esl_password,
                        "--esl-port", str(self.esl_port), "--sip-password", self.sip_password],
                       check=True, stdout=subprocess.DEVNULL)
        vars_xml = self.conf / "vars.xml"
        _set_var(vars_xml, "internal_sip_port", str(self.sip_port))
        _set_var(vars_xml, "external_sip_port", str(self.external_port))
        dialplan = self.conf / "dialplan" / "default.xml"
        text = dialplan.read_text()
        dialplan.write_text(text.replace('data="call_timeout=30"', f'data="call_timeout={RING_SECONDS}"'))
        # the physical limit for the start-of-recording measurement: the dialplan records the caller's leg itself
        (self.conf / "dialplan" / "default" / "00_live_record_session.xml").write_text(RECORD_SESSION_EXTENSION)
        (self.conf / "dialplan" / "default" / "00_live_did_forward.xml").write_text(DID_FORWARD_EXTENSION)
        for path in self._dirs().values():
            path.mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        d = self._dirs()
        command = ["freeswitch", "-ncwait", "-nonat", "-conf", str(self.conf), "-log", str(d["log"]),
                   "-db", str(d["db"]), "-run", str(d["run"]), "-recordings", str(self.recordings),
                   "-storage", str(d["storage"]), "-cache", str(d["cache"]), "-certs", str(d["certs"]),
                   "-sounds", str(self.sounds)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        deadline = time.monotonic() + 30
        while not re.search(r"internal\s+profile\s+\S+\s+RUNNING", self.api("sofia status")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"FreeSWITCH's internal SIP profile did not start\n{self.log_tail()}")
            time.sleep(0.2)  # waiting for a server to come up, not synchronising a test

    def stop(self) -> None:
        pid_file = self._dirs()["run"] / "freeswitch.pid"
        if not pid_file.exists():
            return
        pid = pid_file.read_text().strip()
        subprocess.run(["kill", "-TERM", pid], check=False)
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for a process to exit
        if Path(f"/proc/{pid}").exists():
            subprocess.run(["kill", "-KILL", pid], check=False)

    def api(self, command: str, timeout: float = 10) -> str:
        """One API command through fs_cli (the Event Socket, with callrec's password)."""
        result = subprocess.run(["fs_cli", "-H", "127.0.0.1", "-P", str(self.esl_port), "-p", self.esl_password,
                                 "-t", str(int(timeout * 1000)), "-x", command],
                                capture_output=True, text=True, timeout=timeout + 5)
        return result.stdout

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def channels(self) -> list[dict]:
        import json

        out = self.api("show channels as json")
        try:
            return json.loads(out).get("rows", []) or []
        except ValueError:
            return []

    def wait_idle(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.channels():
            if time.monotonic() > deadline:
                raise AssertionError(f"calls still up after {timeout} s: {self.api('show channels')}")
            time.sleep(0.2)  # polling FreeSWITCH's own channel list, under a deadline


def installed() -> bool:
    return shutil.which("freeswitch") is not None and (EXAMPLES / "make-loopback-conf.sh").exists()
