"""Configuration: defaults in code, then an optional file, then the environment (DESIGN §4)."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

DEV_SECRET_KEY = "dev-only-not-secret"


class InsecureConfiguration(RuntimeError):
    """The configuration would run a production server insecurely (e.g. on the development secret key)."""


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


# name: (default, parser, what it does) — the README's configuration table is generated from this.
ENV_VARS: dict[str, tuple[str, object, str]] = {
    "CALLREC_DATABASE_URL": (f"sqlite:///{VAR_DIR / 'callrec.db'}", str,
                             "SQLAlchemy database URL (SQLite file by default, postgresql://... for PostgreSQL)"),
    "CALLREC_RECORDINGS_DIR": (str(VAR_DIR / "recordings"), str,
                               "Where FreeSWITCH writes recordings (the controller passes paths under it)"),
    "CALLREC_SOUNDS_DIR": (str(PROJECT_ROOT / "sounds"), str, "Announcement sounds (rate-folder layout)"),
    "CALLREC_ESL_HOST": ("127.0.0.1", str, "FreeSWITCH Event Socket host"),
    "CALLREC_ESL_PORT": ("8021", int, "FreeSWITCH Event Socket port"),
    "CALLREC_ESL_PASSWORD": ("ClueCon", str, "FreeSWITCH Event Socket password"),
    "CALLREC_SECRET_KEY": (DEV_SECRET_KEY, str, "Flask secret key (sessions, CSRF, signed download links)"),
    "CALLREC_WEB_HOST": ("127.0.0.1", str, "Address `make run` binds the web UI to"),
    "CALLREC_WEB_PORT": ("8080", int, "Port `make run` binds the web UI to"),
    "CALLREC_PUBLIC_URL": ("http://127.0.0.1:8080", str, "Base URL used in emailed download links"),
    "CALLREC_TRUSTED_PROXIES": ("0", int, "Reverse proxies in front of the web UI whose X-Forwarded-For/-Proto/-Host "
                                          "are trusted (0: none; the client address is the peer's)"),
    "CALLREC_METRICS_HOST": ("127.0.0.1", str, "Controller's /metrics and /healthz address"),
    "CALLREC_METRICS_PORT": ("9464", int, "Controller's /metrics and /healthz port (0 disables)"),
    "CALLREC_LOG_LEVEL": ("INFO", str, "Log level of the controller"),
    "CALLREC_NODE_NAME": ("", str, "Controller node name on the dashboard (empty: the host name)"),
    "CALLREC_POLICY_REFRESH_SECONDS": ("2", float, "How often the controller polls PolicyRevision for changes"),
    "CALLREC_STATUS_SECONDS": ("5", float, "How often the controller writes its heartbeat row"),
    "CALLREC_EVENT_QUEUE_SIZE": ("20000", int, "Events queued as received before they are stored compressed"),
    "CALLREC_EVENT_QUEUE_BYTES": (str(32 << 20), int,
                                  "Bytes of queued events kept as received; past it they are stored compressed"),
    "CALLREC_EVENT_QUEUE_MAX_BYTES": (str(128 << 20), int,
                                      "Queued bytes past which an ERROR is logged (events are still kept)"),
    "CALLREC_ESL_COMMAND_TIMEOUT": ("5", float, "Seconds the controller waits for a FreeSWITCH reply"),
    "CALLREC_ESL_AUTH_TIMEOUT": ("5", float, "Seconds the controller waits for the Event Socket handshake"),
    "CALLREC_ESL_BACKOFF_MAX": ("30", float, "Longest wait between reconnection attempts (seconds)"),
    "CALLREC_RECORD_LIMIT_SECONDS": ("0", int, "uuid_record limit per recording (0: no limit)"),
    "CALLREC_CALL_LOG": ("true", _bool, "Keep the call log (every account's leg with its recording decision and "
                                        "reason; the Calls page); off only to measure its cost"),
    "CALLREC_CONTROL_POLL_SECONDS": ("0.25", float, "How often the controller looks for start/stop requests from "
                                                    "the web UI and the REST API (call control)"),
    "CALLREC_RETENTION_INTERVAL": ("3600", float, "Seconds between the controller's retention purges"),
    "CALLREC_DELIVERY_INTERVAL": ("30", int, "Seconds between the controller's delivery-worker runs"),
    "CALLREC_DELIVERY_LEASE_SECONDS": ("600", int,
                                       "How long a worker owns a claimed delivery (longer than one SMTP send)"),
    "CALLREC_DELIVERY_RETRY_SECONDS": ("60", int, "First retry delay; doubles with every failed attempt"),
    "CALLREC_LINK_MAX_AGE_DAYS": ("7", int, "Validity of emailed download links (recordings too big to attach)"),
    "CALLREC_MAIL_CA_FILE": ("", str, "CA bundle to verify the SMTP server's certificate (empty: system CAs)"),
    "CALLREC_MAIL_TLS_VERIFY": ("true", _bool, "Verify the SMTP server's certificate and name (STARTTLS/SSL)"),
    "MAIL_SERVER": ("127.0.0.1", str, "SMTP server (Flask-Mail)"),
    "MAIL_PORT": ("25", int, "SMTP port"),
    "MAIL_USE_TLS": ("false", _bool, "Use STARTTLS"),
    "MAIL_USE_SSL": ("false", _bool, "Use SMTP over TLS"),
    "MAIL_USERNAME": ("", str, "SMTP user (empty: no AUTH)"),
    "MAIL_PASSWORD": ("", str, "SMTP password"),
    "MAIL_DEFAULT_SENDER": ("callrec@localhost", str, "From address of recording emails"),
    "MAIL_TIMEOUT": ("30", int, "SMTP timeout in seconds"),
}


def load_config(environ: dict[str, str] | None = None, overrides: dict | None = None) -> dict:
    """Return the configuration as a flat dict of typed values (no I/O but reading the optional file)."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    config_file = environ.get("CALLREC_CONFIG_FILE")
    file_values: dict[str, str] = {}
    if config_file:
        file_values = _read_env_file(Path(config_file))
    for name, (default, parse, _help) in ENV_VARS.items():
        raw = environ.get(name, file_values.get(name, default))
        values[name] = parse(raw)  # type: ignore[operator]
    if overrides:
        values.update(overrides)
    return values


def _read_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines (the systemd EnvironmentFile format)."""
    result = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        result[key.strip()] = value.strip().strip('"').strip("'")
    return result


def flask_config(config: dict) -> dict:
    """Map callrec configuration onto the Flask / extension keys both apps use."""
    return {
        "SECRET_KEY": config["CALLREC_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": config["CALLREC_DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "RECORDINGS_DIR": config["CALLREC_RECORDINGS_DIR"],
        "SOUNDS_DIR": config["CALLREC_SOUNDS_DIR"],
        "PUBLIC_URL": config["CALLREC_PUBLIC_URL"],
        **{k: v for k, v in config.items() if k.startswith("MAIL_")},
        "CALLREC": config,
    }
