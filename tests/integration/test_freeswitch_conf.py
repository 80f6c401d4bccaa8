"""freeswitch/conf: what an ISP copies into FreeSWITCH must parse, be complete, and keep the recording codes free.

FreeSWITCH's XML uses the $${var} preprocessor syntax, which is plain text to an XML parser, so the stdlib
parser checks well-formedness of the files as shipped.
"""

import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "freeswitch" / "conf"
SOUNDS = ROOT / "sounds"
XML_FILES = sorted(CONF.rglob("*.xml"))
DEFAULT_CODES = ("*44", "*45")

# Preprocessor variables the configuration may use without defining them: set by FreeSWITCH itself at
# startup (conf_dir, sounds_dir, ...) or by the stock vanilla vars.xml (domain, default_password, ...).
STOCK_VARS = {
    "conf_dir", "sounds_dir", "recordings_dir", "local_ip_v4",  # FreeSWITCH core
    "domain", "domain_name", "default_password", "hold_music", "rtp_sdes_suites",  # vanilla vars.xml
    "outbound_caller_name", "outbound_caller_id",  # vanilla vars.xml
}
# Files the configuration includes that come with the stock vanilla configuration, not from us.
STOCK_INCLUDES = {("dialplan/default.xml", "default/*.xml")}
# Channel variables and headers the controller reads (freeswitch/conf/README.md must explain each).
CONTROLLER_READS = (
    "callrec_account", "callrec_redirected_by", "user_name", "dialed_user", "Call-Direction",
    "transfer_history", "sip_refer_to", "sip_h_Referred-By", "sip_h_Diversion", "endpoint_disposition",
    "transfer_to", "att_xfer_result", "originator", "record_stereo", "current_application",
    "Application: voicemail",
)


def load_demo_accounts():
    # By path, like the other cross-system checks: the contract is the file, not the package.
    spec = importlib.util.spec_from_file_location("demo_data", ROOT / "callrec" / "demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DEMO_ACCOUNTS


def parse(path):
    return ET.parse(path).getroot()


def text_of(path):
    return path.read_text(encoding="utf-8")


def without_comments(text):
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def defined_vars():
    root = parse(CONF / "vars_callrec.xml")
    names = set()
    for directive in root.iter("X-PRE-PROCESS"):
        if directive.get("cmd") == "set":
            names.add(directive.get("data").split("=", 1)[0])
    return names


def preprocessor_value(name):
    for directive in parse(CONF / "vars_callrec.xml").iter("X-PRE-PROCESS"):
        key, _, value = directive.get("data").partition("=")
        if directive.get("cmd") == "set" and key == name:
            return value
    raise KeyError(name)


def dialplan():
    return parse(CONF / "dialplan" / "default.xml")


def extensions():
    context = dialplan().find("context")
    return context.findall("extension")


def extension(name):
    matches = [ext for ext in extensions() if ext.get("name") == name]
    assert len(matches) == 1, f"expected one extension {name!r}, found {len(matches)}"
    return matches[0]


def actions(ext):
    return [(a.get("application"), a.get("data")) for a in ext.iter("action")]


def all_actions():
    for path in XML_FILES:
        for element in parse(path).iter():
            if element.tag in ("action", "anti-action"):
                yield path, element.get("application"), element.get("data") or ""


def leg_variables(dial_string):
    """The {...} channel-variable block that opens a dial string (it may contain ${...} itself)."""
    if not dial_string.startswith("{"):
        return None
    depth = 0
    for index, char in enumerate(dial_string):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return dial_string[1:index]
    return None


def meta_binding_swallows(code, binding, meta_key="*"):
    """True when a bind_meta_app binding (key after the meta key) would catch a prefix of `code`."""
    return code.startswith(meta_key + binding)


# --- well-formed, complete -----------------------------------------------------------------------

def test_configuration_files_exist():
    assert XML_FILES, "no XML under freeswitch/conf"


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: str(p.relative_to(CONF)))
def test_every_xml_file_is_well_formed(path):
    ET.parse(path)


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: str(p.relative_to(CONF)))
def test_every_preprocessor_variable_used_is_defined(path):
    used = set(re.findall(r"\$\$\{([^}]+)\}", text_of(path)))
    undefined = used - defined_vars() - STOCK_VARS
    assert not undefined, f"{path.name} uses $${{...}} never set: {sorted(undefined)}"


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: str(p.relative_to(CONF)))
def test_no_preprocessor_directive_hides_in_a_comment_because_freeswitch_runs_it_anyway(path):
    for comment in re.findall(r"<!--(.*?)-->", text_of(path), flags=re.S):
        assert "<X-PRE-PROCESS" not in comment
    assert "<!--#" not in text_of(path)


def test_every_included_file_exists_here_or_in_the_stock_configuration():
    for path in XML_FILES:
        for directive in parse(path).iter("X-PRE-PROCESS"):
            if directive.get("cmd") != "include":
                continue
            pattern = directive.get("data")
            relative = str(path.relative_to(CONF))
            if (relative, pattern) in STOCK_INCLUDES:
                continue
            assert list(path.parent.glob(pattern)), f"{relative} includes {pattern}, which does not exist"


def test_vars_snippet_defines_the_event_socket_password_and_the_sounds_dir():
    assert {"callrec_esl_password", "callrec_sounds_dir"} <= defined_vars()
    assert preprocessor_value("callrec_sounds_dir") == "$${sounds_dir}/callrec"


def test_every_sound_the_configuration_plays_exists_in_every_rate_folder():
    played = re.findall(r"\$\$\{callrec_sounds_dir\}/([\w.-]+)", without_comments(
        text_of(CONF / "dialplan" / "default.xml")))
    assert played, "the dialplan's sound check extension plays nothing"
    for name in played:
        for rate in ("8000", "16000"):
            assert (SOUNDS / "callrec" / rate / name).is_file(), f"sounds/callrec/{rate}/{name} missing"


def test_the_gateway_the_dialplan_uses_is_defined():
    name = preprocessor_value("callrec_gateway")
    assert "sofia/gateway/$${callrec_gateway}/" in text_of(CONF / "dialplan" / "default.xml")
    gateways = [g for p in (CONF / "sip_profiles" / "external").glob("*.xml") for g in parse(p).iter("gateway")]
    assert [g.get("name") for g in gateways] == ["$${callrec_gateway}"], name


def test_the_example_gateway_contacts_nobody_until_configured():
    gateway = parse(CONF / "sip_profiles" / "external" / "callrec_example_gateway.xml").find("gateway")
    params = {p.get("name"): p.get("value") for p in gateway.iter("param")}
    assert params["register"] == "false"
    assert params["proxy"].startswith("192.0.2.")  # RFC 5737 documentation range


# --- Event Socket --------------------------------------------------------------------------------

def test_event_socket_listens_on_loopback_only_with_the_callrec_password():
    root = parse(CONF / "autoload_configs" / "event_socket.conf.xml")
    assert root.get("name") == "event_socket.conf"
    params = {p.get("name"): p.get("value") for p in root.iter("param")}
    assert params["listen-ip"] == "127.0.0.1"
    assert params["listen-port"] == "$${callrec_esl_port}"
    assert params["password"] == "$${callrec_esl_password}"
    callrec_vars = (CONF / "vars_callrec.xml").read_text()
    assert 'data="callrec_esl_port=8021"' in callrec_vars  # the controller's CALLREC_ESL_PORT default
    assert params["apply-inbound-acl"] == "loopback.auto"


# --- directory -----------------------------------------------------------------------------------

def directory_users():
    users = {}
    for path in sorted((CONF / "directory" / "default").glob("*.xml")):
        for user in parse(path).iter("user"):
            users[user.get("id")] = (path, user)
    return users


def test_sample_users_are_exactly_the_demo_accounts():
    assert sorted(directory_users()) == sorted(number for number, *_ in load_demo_accounts())


@pytest.mark.parametrize("account", load_demo_accounts(), ids=lambda a: a[0])
def test_each_sample_user_matches_its_demo_account(account):
    number, name = account[0], account[1]
    path, user = directory_users()[number]
    assert path.name == f"{number}.xml"  # replaces the stock file of the same name
    params = {p.get("name"): p.get("value") for p in user.iter("param")}
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    assert params["password"] == "$${default_password}"
    assert params["vm-password"], "every demo user has a voicemail box"
    assert variables["record_stereo"] == "true"
    assert variables["user_context"] == "default"
    assert variables["effective_caller_id_number"] == number
    assert variables["effective_caller_id_name"] == name


# --- dialplan: the recording codes stay free ------------------------------------------------------

def test_the_stock_att_xfer_binding_would_swallow_the_default_start_code():
    # Why the stock Local_Extension cannot be kept: `bind_meta_app 4 b s ... att_xfer` catches "*4".
    assert meta_binding_swallows("*44", "4")
    assert not meta_binding_swallows("*44", "1")


def test_no_bind_meta_app_or_bind_digit_action_because_recording_codes_are_configurable():
    for path in XML_FILES:
        code = without_comments(text_of(path))
        assert "bind_meta_app" not in code, path
        assert "bind_digit_action" not in code, path


@pytest.mark.parametrize("code", DEFAULT_CODES)
def test_no_meta_binding_swallows_the_default_codes(code):
    for path, application, data in all_actions():
        if application == "bind_meta_app":
            assert not meta_binding_swallows(code, data.split()[0]), (path, data)


def test_media_stays_in_freeswitch_and_recordings_do_not_follow_transfers():
    for path, application, data in all_actions():
        for setting in ("bypass_media", "proxy_media", "recording_follow_transfer"):
            assert not data.startswith(setting + "="), (path, data)
            assert setting + "=" not in data, (path, data)


# --- dialplan: what the controller relies on ------------------------------------------------------

def test_local_extensions_ring_the_user_then_divert_to_voicemail_like_stock():
    ext = extension("Local_Extension")
    assert ext.find("condition").get("expression") == "^(10[01][0-9])$"
    steps = actions(ext)
    assert ("bridge", "user/${dialed_extension}@${domain_name}") in steps
    tail = steps[-4:]
    assert tail == [
        ("bridge", "user/${dialed_extension}@${domain_name}"),
        ("answer", None),
        ("sleep", "1000"),
        ("bridge", "loopback/app=voicemail:default ${domain_name} ${dialed_extension}"),
    ]
    assert ("set", "continue_on_fail=true") in steps


@pytest.mark.parametrize("number", ["*98", "vmain", "4000"])
def test_voicemail_access_numbers_check_the_mailbox(number):
    ext = extension("vmain")
    assert re.search(ext.find("condition").get("expression"), number)
    assert ("voicemail", "check default ${domain_name}") in actions(ext)


@pytest.mark.parametrize("name", ["call_forward_all_local", "call_forward_all_external"])
def test_a_forward_marks_only_the_new_leg_with_diversion_and_the_forwarding_user(name):
    steps = actions(extension(name))
    bridge = next(data for app, data in steps if app == "bridge")
    new_leg = (leg_variables(bridge) or "").split(",")
    assert "sip_h_Diversion=<sip:${dialed_extension}@${domain_name}>;reason=unconditional" in new_leg, bridge
    assert "callrec_redirected_by=${dialed_extension}" in new_leg, bridge
    for app, data in steps:  # never on the caller's own leg
        if app in ("set", "export"):
            assert not data.startswith(("sip_h_Diversion", "callrec_redirected_by")), data


def test_forwards_are_checked_before_the_local_extension():
    names = [ext.get("name") for ext in extensions()]
    local = names.index("Local_Extension")
    assert names.index("call_forward_all_local") < local
    assert names.index("call_forward_all_external") < local


@pytest.mark.parametrize("name", ["call_forward_activate", "call_forward_cancel", "callrec_sound_check"])
def test_feature_codes_are_never_answered_so_they_are_not_calls_to_record(name):
    steps = [app for app, _ in actions(extension(name))]
    assert "answer" not in steps
    assert steps[0] == "pre_answer"


def test_readme_explains_every_variable_the_controller_reads():
    readme = text_of(CONF / "README.md")
    missing = [name for name in CONTROLLER_READS if name not in readme]
    assert not missing, missing
    assert "record-template" in readme  # the phone's Record key
