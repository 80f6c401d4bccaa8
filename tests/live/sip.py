"""Real SIP phones for the live tier: sipp scenarios built from a list of steps, run as subprocesses.

A phone registers (digest auth), places or answers one call, sends its own RTP (a pcap of its tone with its
DTMF keys as RFC 4733 events) and, in the dialog, whatever the steps say: SIP INFO (the Record key), REFER
(blind transfer), re-INVITE (hold/resume), BYE, or waits for the far end's BYE.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .media import Keys, phone_pcap

SDP = """v=0
o=[field0] 53655765 [cseq_sdp] IN IP[local_ip_type] [local_ip]
s=callrec live
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a={direction}
"""


# --------------------------------------------------------------------------------------------- steps
@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Info:
    """SIP INFO, e.g. the Record key: Info({"Record": "on"})."""

    headers: dict


@dataclass(frozen=True)
class Refer:
    """Blind transfer: REFER to `target` (a number in the domain); FreeSWITCH then hangs this leg up."""

    target: str


@dataclass(frozen=True)
class Hold:
    """re-INVITE with a=sendonly (hold) or, with resume=True, a=sendrecv."""

    resume: bool = False


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class AwaitHangup:
    timeout: float = 60.0


Step = Pause | Info | Refer | Hold | Hangup | AwaitHangup


@dataclass
class Dialog:
    """How this side writes in-dialog requests: UAC (it sent the INVITE) or UAS (it answered)."""

    uac: bool
    cseq: int = 1

    def request(self, method: str, extra: str = "", body: str = "") -> str:
        self.cseq += 1
        if self.uac:
            start = f"{method} [next_url] SIP/2.0"
            routes, ours, theirs = "[routes]", "From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]", \
                "To:[$peer_to]"
        else:
            start = f"{method} [$remote_target] SIP/2.0"
            routes, ours, theirs = "", "From:[$local_party];tag=[pid]SIPpTag01[call_number]", "To:[$remote_party]"
        lines = [start, "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"]
        if routes:
            lines.append(routes)
        lines += [ours, theirs, "Call-ID: [call_id]", f"CSeq: {self.cseq} {method}",
                  "Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>", "Max-Forwards: 70"]
        lines += [line for line in extra.splitlines() if line]
        if body:
            lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", body]
        else:
            lines += ["Content-Length: 0", ""]
        return _send("\n".join(lines))


def _send(message: str, retrans: bool = True) -> str:
    attr = ' retrans="500"' if retrans else ""
    return f"  <send{attr}><![CDATA[\n\n{message}\n\n  ]]></send>\n"


def _reply(status: str, extra: str = "", body: str = "", to_tag: bool = False) -> str:
    to = "[last_To:];tag=[pid]SIPpTag01[call_number]" if to_tag else "[last_To:]"
    lines = [f"SIP/2.0 {status}", "[last_Via:]", "[last_From:]", to, "[last_Call-ID:]", "[last_CSeq:]",
             "Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>"]
    lines += [line for line in extra.splitlines() if line]
    if body:
        lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", body]
    else:
        lines += ["Content-Length: 0", ""]
    return _send("\n".join(lines), retrans=status.startswith("200") and bool(body))


def _steps_xml(steps: list[Step], dialog: Dialog, pcap: str) -> str:
    xml = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
    for step in steps:
        if isinstance(step, Pause):
            xml += f'  <pause milliseconds="{int(step.seconds * 1000)}"/>\n'
        elif isinstance(step, Info):
            extra = "\n".join(f"{k}: {v}" for k, v in step.headers.items())
            xml += dialog.request("INFO", extra) + '  <recv response="200"/>\n'
        elif isinstance(step, Refer):
            extra = "Refer-To: <sip:{0}@[field1]>\nReferred-By: <sip:[field0]@[field1]>".format(step.target)
            xml += dialog.request("REFER", extra) + '  <recv response="202"/>\n'
            xml += _await_bye(60)  # FreeSWITCH hangs the transferor up itself
            return xml
        elif isinstance(step, Hold):
            direction = "sendrecv" if step.resume else "sendonly"
            xml += dialog.request("INVITE", body=SDP.format(direction=direction).replace("[cseq_sdp]", str(dialog.cseq + 1)))
            xml += ('  <recv response="100" optional="true"/>\n  <recv response="200"/>\n')
            xml += _ack(dialog)
        elif isinstance(step, Hangup):
            xml += dialog.request("BYE") + '  <recv response="200"/>\n'
            return xml
        elif isinstance(step, AwaitHangup):
            return xml + _await_bye(step.timeout)
    return xml + _await_bye(120)


def _ack(dialog: Dialog) -> str:
    # an ACK reuses the INVITE's CSeq number
    if dialog.uac:
        head = "ACK [next_url] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n[routes]\n" \
               "From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]\nTo:[$peer_to]"
    else:
        head = "ACK [$remote_target] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n" \
               "From:[$local_party];tag=[pid]SIPpTag01[call_number]\nTo:[$remote_party]"
    return _send(f"{head}\nCall-ID: [call_id]\nCSeq: {dialog.cseq} ACK\nMax-Forwards: 70\nContent-Length: 0\n",
                 retrans=False)


def _await_bye(timeout: float) -> str:
    return (f'  <recv request="BYE" timeout="{int(timeout * 1000)}"/>\n'
            + _reply("200 OK"))


_INVITE = """INVITE sip:[field2]@[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field2]@[field1]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
{auth}Max-Forwards: 70
User-Agent: callrec live tier (sipp)
Content-Type: application/sdp
Content-Length: [len]

"""


def uac_scenario(steps: list[Step], pcap: str, headers: dict | None = None) -> str:
    """Call [field2] as [field0]@[field1], answer the 407, then run the steps in the dialog."""
    sdp = SDP.format(direction="sendrecv")
    xml = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<scenario name="live call">\n'
    extra = "".join(f"{k}: {v}\n" for k, v in (headers or {}).items())
    xml += _send(_INVITE.format(cseq=1, auth=extra) + sdp.replace("[cseq_sdp]", "1"))
    xml += ('  <recv response="100" optional="true"/>\n'
            '  <recv response="407" auth="true"/>\n')
    xml += _send("ACK sip:[field2]@[field1] SIP/2.0\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n"
                 "CSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n", retrans=False)
    xml += _send(_INVITE.format(cseq=2, auth="[authentication]\n" + extra) + sdp.replace("[cseq_sdp]", "2"))
    xml += ('  <recv response="100" optional="true"/>\n  <recv response="180" optional="true"/>\n'
            '  <recv response="183" optional="true"/>\n'
            '  <recv response="200" rrs="true">\n'
            '    <action><ereg regexp=".*" search_in="hdr" header="To:" assign_to="peer_to"/></action>\n'
            '  </recv>\n')
    dialog = Dialog(uac=True, cseq=2)
    xml += _ack(dialog)
    xml += _steps_xml(steps, dialog, pcap)
    return xml + "</scenario>\n"


# A phone that answers runs without `-m 1`: FreeSWITCH's unsolicited MWI NOTIFY after a REGISTER would count as
# sipp's one call (with -aa it answers it and then ignores the INVITE). It ends itself when its call is done.
STOP_NOW = '  <nop><action><exec int_cmd="stop_now"/></action></nop>\n'
STOPPED_BY_SCENARIO = 97  # sipp's exit code for an internal stop command: only STOP_NOW at the scenario's end


def uas_scenario(steps: list[Step], pcap: str, ring_seconds: float = 0.2, answer: bool = True) -> str:
    """Take FreeSWITCH's INVITE (after any MWI NOTIFY), ring, answer, run the steps."""
    xml = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<scenario name="live answer">\n'
    xml += ('  <recv request="INVITE" crlf="true" rrs="true">\n    <action>\n'
            '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_party"/>\n'
            '      <ereg regexp="^[^;]*" search_in="hdr" header="To:" assign_to="local_party"/>\n'
            '      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="remote_target"/>\n'
            '    </action>\n  </recv>\n')
    xml += _reply("100 Trying") + _reply("180 Ringing", to_tag=True)
    if not answer:
        xml += '  <recv request="CANCEL" timeout="120000"/>\n' + _reply("200 OK")
        xml += _send("SIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n"
                     "[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\nCSeq: [cseq] INVITE\n"
                     "Content-Length: 0\n", retrans=False)
        xml += '  <recv request="ACK"/>\n' + STOP_NOW
        # sipp refuses variables it assigns but never reads
        return xml + '  <Reference variables="local_party,remote_party,remote_target"/>\n</scenario>\n'
    xml += f'  <pause milliseconds="{int(ring_seconds * 1000)}"/>\n'
    xml += _reply("200 OK", body=SDP.format(direction="sendrecv").replace("[cseq_sdp]", "1"), to_tag=True)
    xml += '  <recv request="ACK" crlf="true"/>\n'
    xml += _steps_xml(steps, Dialog(uac=False, cseq=0), pcap)
    # the dialog's parties, for requests this side may send (sipp refuses variables it never reads otherwise)
    xml += '  <Reference variables="local_party,remote_party,remote_target"/>\n'
    return xml + STOP_NOW + "</scenario>\n"


def register_scenario() -> str:
    request = """REGISTER sip:[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag02[call_number]
To: <sip:[field0]@[field1]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
{auth}Max-Forwards: 70
Expires: 3600
Content-Length: 0
"""
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<scenario name="register">\n'
            + _send(request.format(cseq=1, auth="")) + '  <recv response="401" auth="true"/>\n'
            + _send(request.format(cseq=2, auth="[authentication]\n")) + '  <recv response="200"/>\n</scenario>\n')


# ---------------------------------------------------------------------------------------------- phones
class SippFailed(AssertionError):
    pass


@dataclass
class Run:
    """One sipp process; `wait()` raises SippFailed with its log when the scenario failed."""

    name: str
    process: subprocess.Popen
    log: Path
    ok_codes: tuple[int, ...] = (0,)

    def wait(self, timeout: float = 120) -> None:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise SippFailed(f"{self.name}: sipp still running after {timeout} s\n{self.tail()}") from None
        if code not in self.ok_codes:
            raise SippFailed(f"{self.name}: sipp exited {code}\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        for extra in sorted(self.log.parent.glob(f"{self.log.stem}*_errors.log")):
            text += extra.read_text(errors="replace")
        return text[-4000:]


@dataclass
class Phone:
    """A SIP phone of directory user `number` on its own loopback port, with its own tone."""

    number: str
    port: int
    media_port: int
    freq: float
    switch: "object"
    workdir: Path
    runs: list[Run] = field(default_factory=list)

    def _sipp(self, name: str, scenario: str, *args: str) -> Run:
        folder = self.workdir / f"{self.number}-{name}-{time.monotonic_ns()}"
        folder.mkdir(parents=True)
        (folder / "scenario.xml").write_text(scenario)
        (folder / "fields.csv").write_text(f"SEQUENTIAL\n{self.number};{self.switch.domain};"
                                           f"{args[0] if args else ''};\n")
        log = folder / "sipp.log"
        answering = name == "uas"
        command = ["sipp", "-sf", "scenario.xml", "-inf", "fields.csv", "-i", "127.0.0.1", "-p", str(self.port),
                   "-mp", str(self.media_port), "-aa", "-nostdin", "-trace_err", "-trace_msg",
                   "-au", self.number, "-ap", self.switch.sip_password, "-timeout", "180s",
                   "-timeout_error", f"127.0.0.1:{self.switch.sip_port}"]
        if not answering:
            command[command.index("-aa"):command.index("-aa")] = ["-m", "1"]
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        run = Run(f"{self.number} {name}", process, log, (STOPPED_BY_SCENARIO,) if answering else (0,))
        self.runs.append(run)
        return run

    def register(self) -> None:
        self._sipp("register", register_scenario()).wait(30)

    def pcap(self, seconds: float, keys: tuple[Keys, ...], audio=None) -> str:
        path = self.workdir / f"{self.number}-{time.monotonic_ns()}.pcap"
        phone_pcap(path, self.freq, seconds, keys, audio=audio)
        return str(path)

    def call(self, number: str, steps: list[Step], keys: tuple[Keys, ...] = (), talk: float = 30, audio=None,
             headers: dict | None = None) -> Run:
        """Call `number` (with extra INVITE `headers`); the phone sends its tone (or `audio`) from the moment the
        call is answered."""
        return self._sipp("uac", uac_scenario(steps, self.pcap(talk, keys, audio), headers), number)

    def answer(self, steps: list[Step], keys: tuple[Keys, ...] = (), talk: float = 30, ring: float = 0.2,
               pick_up: bool = True) -> Run:
        return self._sipp("uas", uas_scenario(steps, self.pcap(talk, keys), ring, pick_up))

    def stop(self) -> None:
        for run in self.runs:
            run.stop()
