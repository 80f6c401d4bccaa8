"""Database models shared by the controller and the web UI (Flask-SQLAlchemy, DESIGN §2)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, MetaData, String, Text,
                        UniqueConstraint, event, update)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from . import policy as pure

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(db.TypeDecorator):
    """Store naive UTC, hand out aware UTC: SQLite forgets time zones, PostgreSQL does not."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class RecordingConfigColumns:
    """The seven call-recording flags, as columns on Product and Account."""

    enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    auto_record_outgoing: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    auto_record_incoming: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    auto_record_redirected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    manual_control: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    announcement: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    email_delivery: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    def recording_config(self) -> pure.RecordingConfig:
        return pure.RecordingConfig(**{name: bool(getattr(self, name)) for name in pure.CONFIG_FLAGS})


class Settings(db.Model):
    """The one row of global settings (id = 1)."""

    __tablename__ = "settings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    records_delivery_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    record_start_code: Mapped[str] = mapped_column(String(8), default="*44", nullable=False)
    record_stop_code: Mapped[str] = mapped_column(String(8), default="*45", nullable=False)
    # PCI pause (issue 12): "" each, off until both are set
    record_pause_code: Mapped[str] = mapped_column(String(8), default="", server_default="", nullable=False)
    record_resume_code: Mapped[str] = mapped_column(String(8), default="", server_default="", nullable=False)
    voicemail_numbers: Mapped[str] = mapped_column(String(500), default="*98,vmain,4000", nullable=False)
    record_format: Mapped[str] = mapped_column(String(8), default="wav", nullable=False)
    record_stereo: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    record_sample_rate: Mapped[int] = mapped_column(Integer, default=8000, nullable=False)
    min_recording_seconds: Mapped[float] = mapped_column(Float, default=1.0, nullable=False)
    retention_days: Mapped[int] = mapped_column(Integer, default=90, nullable=False)
    dtmf_timeout_ms: Mapped[int] = mapped_column(Integer, default=3000, nullable=False)
    mail_sender: Mapped[str] = mapped_column(String(254), default="", nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", nullable=False)
    attachment_max_bytes: Mapped[int] = mapped_column(Integer, default=10 * 1024 * 1024, nullable=False)
    max_delivery_attempts: Mapped[int] = mapped_column(Integer, default=8, nullable=False)
    # The audit trail outlives the recordings it mentions (0 keeps it forever).
    audit_retention_days: Mapped[int] = mapped_column(Integer, default=730, nullable=False)

    def voicemail_number_list(self) -> list[str]:
        return [n for n in (self.voicemail_numbers or "").split(",") if n]

    def facts(self) -> pure.SettingsFacts:
        return pure.SettingsFacts(
            records_delivery_enabled=self.records_delivery_enabled,
            default_codes=pure.CodePair(self.record_start_code, self.record_stop_code,
                                        self.record_pause_code or "", self.record_resume_code or ""),
        )


class PolicyRevision(db.Model):
    """A counter bumped in the same transaction as any policy change; the controller polls it."""

    __tablename__ = "policy_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class CustomerClass(db.Model):
    __tablename__ = "customer_class"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    notify_new_call_recording: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class DialingRule(db.Model):
    __tablename__ = "dialing_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    record_start_code: Mapped[str] = mapped_column(String(8), nullable=False)
    record_stop_code: Mapped[str] = mapped_column(String(8), nullable=False)
    # PCI pause: the rule's four codes replace the settings' as a set (validated together); "": pause off
    record_pause_code: Mapped[str] = mapped_column(String(8), default="", server_default="", nullable=False)
    record_resume_code: Mapped[str] = mapped_column(String(8), default="", server_default="", nullable=False)

    def facts(self) -> pure.DialingRuleFacts:
        return pure.DialingRuleFacts(self.name, pure.CodePair(self.record_start_code, self.record_stop_code,
                                                              self.record_pause_code or "",
                                                              self.record_resume_code or ""))


class Customer(db.Model):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    customer_class_id: Mapped[int] = mapped_column(ForeignKey("customer_class.id"), nullable=False)
    dialing_rule_id: Mapped[int | None] = mapped_column(ForeignKey("dialing_rule.id"), nullable=True)
    customer_class: Mapped[CustomerClass] = relationship(lazy="joined")
    dialing_rule: Mapped[DialingRule | None] = relationship(lazy="joined")


class Product(RecordingConfigColumns, db.Model):
    __tablename__ = "product"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)


class Account(RecordingConfigColumns, db.Model):
    __tablename__ = "account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), default="", nullable=False)
    email: Mapped[str] = mapped_column(String(254), default="", nullable=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), nullable=False)
    dialing_rule_id: Mapped[int | None] = mapped_column(ForeignKey("dialing_rule.id"), nullable=True)
    override: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    customer: Mapped[Customer] = relationship(lazy="joined")
    product: Mapped[Product] = relationship(lazy="joined")
    dialing_rule: Mapped[DialingRule | None] = relationship(lazy="joined")

    def effective_policy(self, settings: Settings) -> pure.EffectivePolicy:
        """Translate the rows into plain values and resolve them (the rules live in callrec.policy)."""
        customer = self.customer
        return pure.resolve_policy(
            account=pure.AccountFacts(self.number, self.email or "", self.override, self.recording_config(), self.id),
            product=pure.ProductFacts(self.product.name, self.product.recording_config()),
            customer=pure.CustomerFacts(
                customer.name,
                customer.customer_class.name,
                customer.customer_class.notify_new_call_recording,
                customer.dialing_rule.facts() if customer.dialing_rule else None,
            ),
            settings=settings.facts(),
            account_rule=self.dialing_rule.facts() if self.dialing_rule else None,
        )


class Recording(db.Model):
    """One file per call and account (a stop then a start continues the same file)."""

    __tablename__ = "recording"
    __table_args__ = (UniqueConstraint("call_uuid", "account_id", name="uq_recording_call_account"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_uuid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    leg_uuid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True,
                                                   index=True)
    account_number: Mapped[str] = mapped_column(String(64), nullable=False)
    direction: Mapped[str] = mapped_column(String(16), nullable=False)  # outgoing / incoming / redirected
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # auto / manual / phone
    caller: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    callee: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    file_path: Mapped[str] = mapped_column(String(1024), nullable=False)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # recording → completed | too_short | missing | failed
    status: Mapped[str] = mapped_column(String(16), default="recording", nullable=False, index=True)
    status_detail: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # PCI pause: [{"paused_at": iso, "resumed_at": iso | null}, ...], the file holds silence in between
    paused_intervals: Mapped[list] = mapped_column(JSON, default=list, server_default="[]", nullable=False)
    account: Mapped[Account | None] = relationship(lazy="joined")
    delivery: Mapped["Delivery | None"] = relationship(back_populates="recording", uselist=False,
                                                      cascade="all, delete-orphan")


class Delivery(db.Model):
    """The outbox row for one recording's email: pending / sending / sent / failed / skipped."""

    __tablename__ = "delivery"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recording.id", ondelete="CASCADE"), unique=True,
                                              nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow, nullable=True, index=True)
    lease_owner: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recording: Mapped[Recording] = relationship(back_populates="delivery")
    attempt_log: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", order_by="DeliveryAttempt.id")


class DeliveryAttempt(db.Model):
    """Every attempt's outcome is kept, so an admin can see why a mail did not go out."""

    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # sent / retry / failed
    error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")


class CallLog(db.Model):
    """One leg of one account the controller saw, with its recording decision and the reason in words (issue 12).

    Written by the controller at the leg's hangup, off the event path; its email outcome is the Delivery row of the
    recording it links to (`call_key` + `account_number` = Recording.call_uuid + account_number)."""

    __tablename__ = "call_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_key: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    leg_uuid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True,
                                                   index=True)
    account_number: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    direction: Mapped[str] = mapped_column(String(16), nullable=False)  # outgoing / incoming / redirected
    caller: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    callee: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision: Mapped[str] = mapped_column(String(16), nullable=False, index=True)  # recorded / not_recorded
    reason_code: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    notes: Mapped[str] = mapped_column(Text, default="[]", nullable=False)  # JSON list of sentences


class CallRequest(db.Model):
    """A request to the controller about a call in progress (issue 12: call control over the REST API and the Calls
    now page). The web UI never talks to the controller: it writes this row; the controller polls pending rows,
    acts within a second and writes the outcome (done / refused / failed, with why) for the caller to poll."""

    __tablename__ = "call_request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    leg_uuid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    account_number: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # start / stop
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False, index=True)
    detail: Mapped[str] = mapped_column(Text, default="", nullable=False)
    requested_by: Mapped[str] = mapped_column(String(120), default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LiveLeg(db.Model):
    """An account's leg in a call in progress, as the controller last published it (the Calls now page)."""

    __tablename__ = "live_leg"
    leg_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    call_key: Mapped[str] = mapped_column(String(64), nullable=False)
    account_number: Mapped[str] = mapped_column(String(64), nullable=False)
    direction: Mapped[str] = mapped_column(String(16), nullable=False)
    caller: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    callee: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recording: Mapped[str] = mapped_column(String(16), nullable=False)  # recording / stopped / off
    manual_control: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class AdminUser(db.Model):
    __tablename__ = "admin_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Part of every session cookie of this user; a new one (logout, password change) ends them all server-side.
    # Being random, it also means a leaked secret key alone does not let anyone forge a session.
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32), nullable=False)
    role: Mapped[str] = mapped_column(String(16), default="admin", nullable=False)  # admin / auditor (ROLES)

    @property
    def read_only(self) -> bool:
        """An auditor sees everything and changes nothing."""
        return self.role != "admin"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def end_sessions(self) -> None:
        """Invalidate every session cookie issued for this user so far."""
        self.session_token = secrets.token_hex(32)

    # Flask-Login's user protocol
    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        """What the session cookie holds: the id and the current session token."""
        if not self.session_token:
            self.end_sessions()
        return f"{self.id}:{self.session_token}"

    @classmethod
    def from_session_id(cls, session, value: str) -> "AdminUser | None":
        """The user a session's id names, if the cookie's token is still the user's current one."""
        user_id, _, token = (value or "").partition(":")
        if not user_id.isascii() or not user_id.isdigit() or not token or len(user_id) > 10:
            return None
        user = session.get(cls, int(user_id))
        if user is None or not hmac.compare_digest(user.session_token.encode(), token.encode()):
            return None
        return user


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored (tokens are 256-bit random, so a fast hash suffices)."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: never
    scope: Mapped[str] = mapped_column(String(8), default="write", nullable=False)  # read / write (TOKEN_SCOPES)

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, scope: str = "write", expires_at: datetime | None = None) -> tuple["ApiToken", str]:
        token = "crt_" + secrets.token_urlsafe(32)
        return cls(name=name, token_hash=cls.hash(token), scope=scope, expires_at=expires_at), token

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


ROLES = ("admin", "auditor")
TOKEN_SCOPES = ("read", "write")


class AuditEvent(db.Model):
    """Who did what to which object, when, and what changed (before -> after); written with the change."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(120), nullable=False, index=True)  # "admin alice", "token billing #3"
    address: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False, index=True)  # create / update / delete / play ...
    object_type: Mapped[str] = mapped_column(String(32), default="", nullable=False, index=True)
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    object_label: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    changes: Mapped[str] = mapped_column(Text, default="", nullable=False)  # JSON {field: [before, after]}


class LoginFailure(db.Model):
    """Failed-login counts per throttle key, shared by every web worker (webui.throttle.DatabaseLoginThrottle)."""

    __tablename__ = "login_failure"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class ControllerStatus(db.Model):
    """The controller's heartbeat, one row per node, for the dashboard."""

    __tablename__ = "controller_status"
    node: Mapped[str] = mapped_column(String(128), primary_key=True)
    connected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    core_uuid: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    detail: Mapped[str] = mapped_column(Text, default="", nullable=False)


POLICY_TABLES = (Settings, CustomerClass, DialingRule, Customer, Product, Account)


def _bump_policy_revision(session: Session, flush_context, instances) -> None:
    """Any change to a policy-affecting row bumps the revision in the same transaction."""
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, POLICY_TABLES) for obj in touched):
        session.execute(update(PolicyRevision).values(revision=PolicyRevision.revision + 1))


def install_listeners() -> None:
    """Register the ORM event hooks once (called from the app factory, never at import)."""
    if not event.contains(Session, "before_flush", _bump_policy_revision):
        event.listen(Session, "before_flush", _bump_policy_revision)


def ensure_singletons() -> Settings:
    """Create the settings and revision rows if missing; return the settings."""
    settings = db.session.get(Settings, 1)
    if settings is None:
        settings = Settings(id=1)
        db.session.add(settings)
    if db.session.get(PolicyRevision, 1) is None:
        db.session.add(PolicyRevision(id=1, revision=0))
    db.session.commit()
    return settings


def get_settings() -> Settings:
    return db.session.get(Settings, 1) or ensure_singletons()
