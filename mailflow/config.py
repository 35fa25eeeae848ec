"""Configuration: one TOML file, validated, with secrets allowed to come from the environment.

The file is named by ``--config PATH`` or ``MAILFLOW_CONFIG``; without either, the defaults below
apply (the embedded single-machine setup). Any key may be overridden by an environment variable
``MAILFLOW_<SECTION>__<KEY>`` (for example ``MAILFLOW_OUTGOING__PASSWORD``), which is how secrets
stay out of the file. ``config/mailflow.example.toml`` documents every key with its default.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mailflow.crypt.keyring import BadKey, Keyring, keyring, parse_keys
from mailflow.errors import ConfigError

CONFIG_ENV = "MAILFLOW_CONFIG"
ENCRYPTION_KEY_ENV = "MAILFLOW_ENCRYPTION_KEY"
"""The encryption key(s) at rest, from the environment: ``[storage] encryption_key`` by a short name."""


def _check_address(value: str) -> str:
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value) or "." not in domain:
        raise ValueError(f"{value!r} is not an email address (expected local@domain.tld)")
    return f"{local}@{domain.lower()}"


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (for example 127.0.0.1:8025)")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceSettings(_Section):
    committee_name: str = "Code of Conduct Committee"
    conduct_address: str = "conduct@example.org"
    subject_tag: str = "conduct"
    data_dir: Path = Path("storage")
    templates_dir: Path | None = None

    _address = field_validator("conduct_address")(_check_address)

    @field_validator("subject_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not value or any(c in value for c in "[]#\r\n"):
            raise ValueError("must be a short word without brackets, '#' or line breaks")
        return value


class DatabaseSettings(_Section):
    url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/mailflow.sqlite3``."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite://", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        return value


class QueueSettings(_Section):
    broker_url: str = "stub://"
    embedded_worker: bool | None = None
    """Run the dramatiq worker inside ``mailflow serve``; default: only with the in-process broker."""
    worker_threads: int = Field(default=4, ge=1, le=64)
    worker_processes: int | None = Field(default=None, ge=0, le=64)
    """With stub://: run the embedded worker in this many child processes of ``mailflow serve``,
    beside the listeners (0: threads inside the serve process itself). Default: one per core, at
    most 4 (``Settings.embedded_processes``)."""
    sweep_seconds: float = Field(default=2.0, gt=0)
    message_time_limit_seconds: float = Field(default=10.0, gt=0)
    """Each message's time budget for being read, threaded, recorded and routed; a message over it
    is recorded as "too complex to read" (kept as received; the reporter acknowledged, the chairs
    told) instead of holding up the others."""

    @field_validator("broker_url")
    @classmethod
    def _broker(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"stub", "redis", "rediss", "amqp", "amqps"}:
            raise ValueError("must be stub://, redis://... or amqp://...")
        return value

    @model_validator(mode="after")
    def _processes_need_stub(self) -> QueueSettings:
        if self.worker_processes and not self.broker_url.startswith("stub:"):
            raise ValueError(
                "worker_processes is for the embedded broker (stub://); with Redis or RabbitMQ run "
                "`dramatiq mailflow.worker --processes N` instead"
            )
        return self


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_KEYWORD_FORBIDDEN = frozenset('(){%*"\\]') | {" "}


class ImapSettings(_Section):
    """``[intake.imap]``: take mail from the committee's existing mailbox (mailflow.inbound.imap)."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    """Default: 993 with security "tls", 143 otherwise."""
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password: SecretStr | None = None
    oauth2_token: SecretStr | None = None
    """A bearer token for XOAUTH2 instead of a password (it expires: prefer ``oauth2_token_command``)."""
    oauth2_token_command: str | None = None
    """A command (split like a shell would, run without one) that prints a fresh XOAUTH2 bearer
    token; run before every login, as mutt's ``imap_oauth_refresh_command`` or isync's ``PassCmd``."""
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    after: Literal["flag", "move"] = "flag"
    """What happens to a message once its bytes are stored: flagged (\\Seen and ``keyword``) or moved."""
    keyword: str = "$MailflowSeen"
    processed_folder: str | None = None
    first_poll: Literal["unseen", "all", "none"] = "unseen"
    """On first contact with a folder: take its unread mail, all of it, or only mail arriving later."""
    idle: bool = True
    poll_seconds: float = Field(default=60, gt=0)
    batch_size: int = Field(default=100, ge=1, le=1000)
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=60, gt=0)
    reconnect_max_seconds: float = Field(default=300, gt=0)

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)

    @field_validator("keyword")
    @classmethod
    def _keyword(cls, value: str) -> str:
        if not value or value.startswith("\\") or any(c in _KEYWORD_FORBIDDEN or ord(c) < 33 for c in value):
            raise ValueError("must be an IMAP keyword: one word without spaces, brackets, quotes or '\\'")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ImapSettings:
        if self.security == "none" and self.host not in _LOOPBACK:
            raise ValueError('security = "none" sends the password in clear: only for 127.0.0.1 or localhost')
        given = [self.password, self.oauth2_token, self.oauth2_token_command]
        if sum(value is not None for value in given) != 1:
            raise ValueError(
                "set exactly one of password (better: MAILFLOW_INTAKE__IMAP__PASSWORD), oauth2_token "
                "and oauth2_token_command"
            )
        if self.oauth2_token_command is not None:
            try:
                argv = shlex.split(self.oauth2_token_command)
            except ValueError as exc:
                raise ValueError(f"oauth2_token_command cannot be read as a command: {exc}") from None
            if not argv:
                raise ValueError("oauth2_token_command cannot be read as a command: it is empty")
        if len(set(self.folders)) != len(self.folders) or not all(f.strip() for f in self.folders):
            raise ValueError("folders must be distinct, non-empty folder names")
        if self.after == "move":
            if not self.processed_folder:
                raise ValueError('after = "move" needs processed_folder')
            if self.processed_folder in self.folders:
                raise ValueError("processed_folder must not be one of the folders that are read")
        return self


class IntakeSettings(_Section):
    smtp_listen: str | None = "127.0.0.1:8025"
    lmtp_listen: str | None = None
    max_message_size: ByteSize = ByteSize(25 * 1024 * 1024)
    hostname: str = "localhost"
    imap: ImapSettings | None = None
    """Poll the committee's existing mailbox over IMAP (off unless configured)."""
    max_recipients: int = Field(default=50, ge=1, le=10_000)
    """Recipients per SMTP/LMTP transaction; more get ``452 4.5.3`` (the client sends them again)."""
    command_timeout_seconds: float = Field(default=300, gt=0)
    """A client that sends no command for this long is closed with ``421 4.4.2``."""
    data_timeout_seconds: float = Field(default=600, gt=0)
    """The whole message (DATA to the final dot) must arrive within this; else ``421 4.4.2``, nothing stored."""
    max_connections_per_client: int = Field(default=20, ge=1)
    """Concurrent connections from one IP address; more are refused with ``421 4.7.0`` at connect."""
    max_messages_per_sender_per_hour: int = Field(default=100, ge=1)
    """Messages per envelope sender per hour; more get ``450 4.7.1`` at MAIL FROM (the MTA retries)."""
    max_header_size: ByteSize = ByteSize(1024 * 1024)
    """Largest header section accepted; larger gets ``552 5.3.4``."""
    min_free_space: ByteSize | None = None
    """Below this much free space for the SQLite database, mail is refused with ``452 4.3.1``.
    Default: 1.5 x max_message_size plus the WAL's size limit (mailflow.inbound.space)."""
    reverse_dns: bool = True
    """Look up the client's name (forward-confirmed) for our Received field; off: "unknown"."""

    @field_validator("smtp_listen", "lmtp_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return _check_listen(value) if value else None


class OutgoingSettings(_Section):
    transport: str = "maildir:storage/outgoing"
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=12, ge=1)
    retry_base_seconds: float = Field(default=30, gt=0)
    sent_folder: str | None = None
    """Append a copy of every mail sent to this folder of the [intake.imap] account (e.g. "Sent")."""

    @field_validator("transport")
    @classmethod
    def _transport(cls, value: str) -> str:
        if value.startswith("maildir:") and len(value) > len("maildir:"):
            return value
        parts = urlsplit(value)
        if parts.scheme in {"smtp", "smtps"} and parts.hostname:
            return value
        raise ValueError("must be maildir:PATH or smtp://HOST:PORT (smtps:// for implicit TLS)")


class AcknowledgementSettings(_Section):
    enabled: bool = True
    rate_limit_count: int = Field(default=3, ge=1)
    rate_limit_window_minutes: int = Field(default=60, ge=1)


class Member(_Section):
    name: str
    addresses: list[str] = Field(min_length=1)
    role: Literal["chair", "member"] = "member"
    aliases: list[str] = Field(default_factory=list)
    password_hash: SecretStr | None = None
    """For the submission listener: ``mailflow committee hash-password`` prints one (scrypt)."""

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return [_check_address(v) for v in values]


class CommitteeSettings(_Section):
    members: list[Member] = Field(default_factory=list)


class AuthenticationSettings(_Section):
    """How the service tells a committee member's mail from a forgery of it."""

    trusted_authserv_ids: list[str] = Field(default_factory=list)
    """Authentication-Results headers are believed only from these hosts (RFC 8601 authserv-id),
    and only where that host added them: above the first Received header."""
    trusted_relays: list[str] = Field(default_factory=list)
    """Addresses or networks of the MX hosts that hand mail to the SMTP/LMTP listener. Only mail
    that arrived over a connection from one of them may carry Authentication-Results we believe;
    with none configured, only our own DKIM check and the submission login count."""

    @field_validator("trusted_relays")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not an IP address or network (e.g. 192.0.2.25 or 10.0.0.0/24)"
                ) from None
        return [v.strip() for v in values]

    verify_dkim: bool = True
    """Verify DKIM signatures of mail claiming to be from a member ourselves (needs DNS)."""


class NoticeSettings(_Section):
    """Templated notices, the chair's approval, and the deadlines of the manuals."""

    board_address: str | None = None
    """Where a report to the board (or an escalated deadlock) goes."""
    fallback_approver: str | None = None
    """A member (roster name) who may approve when every chair is conflicted on a case."""
    feedback_window_days: float = Field(default=7, gt=0)
    acknowledgement_hours: float = Field(default=24, gt=0)
    """Jupyter: "This reply must be sent within 24 hours": the chair is alerted if it was not."""
    status_update_days: float = Field(default=7, gt=0)
    """Jupyter: no resolution within one week -> a status update with a projected timeline."""
    unilateral_report_hours: float = Field(default=24, gt=0)
    mediation_days: float = Field(default=14, gt=0)
    deadlock_days: float = Field(default=7, gt=0)
    """Jupyter: a deadlock "for over a week" goes to the board: a proposal undecided this long is escalated."""
    urgent_hours: float = Field(default=24, gt=0)
    """An urgent case (``/urgent``): every pending deadline falls within this many hours, and its
    status updates and votes run on this period instead of days."""
    check_seconds: float = Field(default=60, gt=0)
    """How often ``mailflow serve`` has the deadlines checked (by a worker, as a ``check_deadlines`` message)."""
    digest_hours: float = Field(default=24, ge=0)
    """The chairs get what they must hear of (messages that fit no case, quarantined messages, held
    and undelivered mail) in a digest: at most one mail per kind in this many hours (0: at once)."""

    @field_validator("board_address")
    @classmethod
    def _board(cls, value: str | None) -> str | None:
        return _check_address(value) if value else None


class RecordsSettings(_Section):
    """``[records]``: the incident log, the ban register, retention, the chain's heads, the yearly report."""

    retention_conflict_days: float = Field(default=730, gt=0)
    """Days a closed conflict-resolution case is kept before its personal data is removed."""
    retention_enforcement_days: float = Field(default=1825, gt=0)
    """Days a closed conduct-enforcement case is kept (also a case whose type was never set)."""
    retention_scheduled: bool = True
    """Let the scheduler run retention (once every ``retention_check_hours``); `mailflow retention run`
    shows what it would remove."""
    retention_check_hours: float = Field(default=24, gt=0)
    suppress_below: int = Field(default=5, ge=2)
    """The transparency report shows no count below this (nor a figure computed from fewer cases)."""
    ban_reminder_days: float = Field(default=7, ge=0)
    """The lead (else the chairs) is reminded this many days before a ban ends or is due for review."""
    heads_mail_days: float = Field(default=7, ge=0)
    """Mail the digest of every diary's head to ``[notices] board_address`` this often (0: never)."""
    heads_key: SecretStr | None = None
    """A secret (better: MAILFLOW_RECORDS__HEADS_KEY) that signs the digest of the heads (HMAC-SHA256)."""
    categories: list[str] = Field(
        default_factory=lambda: [
            "harassment",
            "sexual-harassment",
            "threats",
            "discrimination",
            "personal-attack",
            "disruption",
            "spam",
            "other",
        ]
    )
    """The types of violation a case may be given (``/assess category WORD``); the report counts them."""

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        words = [v.strip().lower() for v in values]
        if not words or any(not w or any(c.isspace() for c in w) for w in words):
            raise ValueError("must be one or more single words")
        return list(dict.fromkeys(words))


class SubmissionSettings(_Section):
    """A submission listener members add as their outgoing server: AUTH over STARTTLS."""

    listen: str | None = None
    tls_certificate: Path | None = None
    tls_key: Path | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return _check_listen(value) if value else None

    @model_validator(mode="after")
    def _tls(self) -> SubmissionSettings:
        if self.listen and not (self.tls_certificate and self.tls_key):
            raise ValueError("the submission listener needs tls_certificate and tls_key (AUTH only over STARTTLS)")
        return self


class MetricsSettings(_Section):
    """A Prometheus endpoint served by ``mailflow serve`` (``mailflow.metrics``); off when unset."""

    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return _check_listen(value) if value else None


class StorageSettings(_Section):
    """``[storage]``: encryption at rest of the personal data in the database (mailflow.crypt).

    Off unless a key is given. Keys are 32 random bytes in URL-safe base64 (``mailflow keys new``);
    with several, the first encrypts and every one decrypts (rotation: ``mailflow keys rotate``)."""

    encryption_key: SecretStr | None = None
    """One key, or several separated by commas, the first encrypting. Better from the environment:
    MAILFLOW_ENCRYPTION_KEY."""
    encryption_key_file: Path | None = None
    """A file holding the key(s), one a line (``#`` comments), the first encrypting; readable by
    the service's user only."""

    _keys: list[bytes] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _read_keys(self) -> StorageSettings:
        if self.encryption_key is not None and self.encryption_key_file is not None:
            raise ValueError("set one of encryption_key (MAILFLOW_ENCRYPTION_KEY) and encryption_key_file, not both")
        where, text = "encryption_key", None
        if self.encryption_key is not None:
            text = self.encryption_key.get_secret_value()
        elif self.encryption_key_file is not None:
            where = f"encryption_key_file {self.encryption_key_file}"
            try:
                text = self.encryption_key_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
        if text is None:
            return self
        try:
            self._keys = parse_keys(text)
        except BadKey as exc:
            raise ValueError(f"a key in {where} {exc}") from None
        if not self._keys:
            raise ValueError(f"{where} holds no key")
        return self

    def keyring(self) -> Keyring | None:
        """The configured keys (None: encryption off)."""
        return keyring(self._keys)


class _EncryptionKeyFromEnvironment(PydanticBaseSettingsSource):
    """``MAILFLOW_ENCRYPTION_KEY``, read as ``[storage] encryption_key``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        value = os.environ.get(ENCRYPTION_KEY_ENV)
        return {"storage": {"encryption_key": value}} if value else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MAILFLOW_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    service: ServiceSettings = Field(default_factory=ServiceSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    outgoing: OutgoingSettings = Field(default_factory=OutgoingSettings)
    acknowledgement: AcknowledgementSettings = Field(default_factory=AcknowledgementSettings)
    committee: CommitteeSettings = Field(default_factory=CommitteeSettings)
    authentication: AuthenticationSettings = Field(default_factory=AuthenticationSettings)
    submission: SubmissionSettings = Field(default_factory=SubmissionSettings)
    notices: NoticeSettings = Field(default_factory=NoticeSettings)
    records: RecordsSettings = Field(default_factory=RecordsSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    storage: StorageSettings = Field(default_factory=StorageSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file: that is how secrets are supplied.
        return env_settings, _EncryptionKeyFromEnvironment(settings_cls), init_settings

    @model_validator(mode="after")
    def _sent_folder_needs_imap(self) -> Settings:
        if self.outgoing.sent_folder and self.intake.imap is None:
            raise ValueError("[outgoing] sent_folder needs the IMAP account of [intake.imap]")
        return self

    # -- derived values -------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.service.data_dir / 'mailflow.sqlite3').resolve()}"

    @property
    def embedded_processes(self) -> int:
        """How many child processes run the embedded worker (0: threads in the serve process)."""
        if not self.run_embedded_worker or not self.queue.broker_url.startswith("stub:"):
            return 0
        if self.queue.worker_processes is not None:
            return self.queue.worker_processes
        return max(1, min(os.cpu_count() or 1, 4))

    @property
    def run_embedded_worker(self) -> bool:
        if self.queue.embedded_worker is not None:
            return self.queue.embedded_worker
        return self.queue.broker_url.startswith("stub:")

    @property
    def templates_dir(self) -> Path:
        if self.service.templates_dir is not None:
            return self.service.templates_dir
        return Path(__file__).resolve().parent.parent / "templates"


def _location(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(file)"


def settings_from_mapping(data: dict[str, Any]) -> Settings:
    """Validate a mapping (a parsed TOML file) into settings, naming every bad key."""
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = [(_location(err["loc"]), _why(err)) for err in exc.errors()]
        lines = "\n".join(f"  {key}: {why}" for key, why in problems)
        raise ConfigError(f"invalid configuration:\n{lines}", problems) from None


def _why(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling against config/mailflow.example.toml)"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")


def config_path(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def load_settings(path: Path | None = None) -> Settings:
    """Load settings from ``path``, ``$MAILFLOW_CONFIG`` or the defaults."""
    path = config_path(path)
    if path is None:
        return settings_from_mapping({})
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", [(str(path), f"not valid TOML: {exc}")]) from None
    return settings_from_mapping(data)
