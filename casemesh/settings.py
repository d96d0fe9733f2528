"""Settings for every process, from ``CASEMESH_*`` environment variables.

Built once at start-up and passed into app factories; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("cases", "notes", "documents", "notifications")
PROCESS_NAMES = ("gateway", *SERVICE_NAMES)
EMBEDDED_BACKENDS = {"store": "sqlite", "bus": "memory", "object": "filesystem", "mail": "eml"}
PRODUCTION_BACKENDS = {"store": "mongo", "bus": "rabbitmq", "object": "s3", "mail": "smtp"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEMESH_", extra="ignore")

    # Where this process listens.
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)

    # Which adapters to use: "embedded" (SQLite, in-process bus, filesystem,
    # .eml folder) or "production" (MongoDB, RabbitMQ, S3, SMTP).
    mode: Literal["embedded", "production"] = "production"
    data_dir: Path = Path(".casemesh")
    # Override one port's adapter regardless of mode (e.g. SQLite with RabbitMQ).
    store_backend: Literal["sqlite", "mongo"] | None = None
    bus_backend: Literal["memory", "rabbitmq"] | None = None
    object_backend: Literal["filesystem", "s3"] | None = None
    mail_backend: Literal["eml", "smtp"] | None = None

    # Database (production): one MongoDB database per service.
    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    mongo_db_prefix: str = "casemesh_"

    # Event bus (production).
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    amqp_exchange: str = "casemesh.events"
    # Each consuming service's durable queue is <prefix><service>.
    amqp_queue_prefix: str = "casemesh."
    bus_prefetch: int = Field(16, ge=1, le=1000)
    bus_max_attempts: int = Field(5, ge=1, le=100)
    bus_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)

    # Object store (production, documents service).
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "minioadmin"
    s3_secret_key: SecretStr = SecretStr("minioadmin")
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = "casemesh"
    s3_threads: int = Field(8, ge=1, le=64)
    # 8 MiB parts: an upload holds at most two parts in flight plus the one
    # being filled (reused buffers), so this bounds the documents service's memory.
    s3_part_size: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)
    # The gateway fetches downloads from the object store itself (a presigned
    # URL from the documents service), so their bytes cross one process, not
    # two; turn off if the gateway cannot reach the S3 endpoint.
    direct_downloads: bool = True

    # Mail (production, notifications service).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "Casemesh <casemesh@localhost>"
    # SMTP connections the notifications service keeps open and sends over at once.
    smtp_pool_size: int = Field(8, ge=1, le=64)

    # Where the gateway finds each service (production; embedded fills these in).
    cases_url: str = "http://127.0.0.1:8081"
    notes_url: str = "http://127.0.0.1:8082"
    documents_url: str = "http://127.0.0.1:8083"
    notifications_url: str = "http://127.0.0.1:8084"

    # Gateway proxy timeouts (seconds).
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 30.0

    # Gateway limits (docs/limits.md). Generous by default: they stop runaway
    # clients and floods, not the test suite's bursts or the benchmarks.
    # Rate limits: a token bucket per authenticated user (requests per second
    # refilled, and the burst it allows), and one per client IP for anonymous
    # calls (the token endpoint, missing or refused credentials).
    rate_limit_enabled: bool = True
    rate_limit_rate: float = Field(1000.0, gt=0)
    rate_limit_burst: int = Field(2000, ge=1)
    rate_limit_anonymous_rate: float = Field(2.0, gt=0)
    rate_limit_anonymous_burst: int = Field(120, ge=1)
    # Reverse proxies in front of the gateway (their IPs, JSON list): for a
    # request from one, the client is the last X-Forwarded-For address.
    trusted_proxies: tuple[str, ...] = ()
    # Request bodies (bytes) on JSON and form routes; the upload routes allow
    # the workspace's upload limit (documents_*) plus max_body_size for the
    # multipart envelope and its fields.
    max_body_size: int = Field(1024 * 1024, ge=1024)
    # Request head: URL (path and query), one header line, all header lines,
    # number of headers. Over them: 414 / 431 in the dialect's shape.
    max_url_size: int = Field(8000, ge=256)
    max_header_size: int = Field(8190, ge=256)
    max_headers_size: int = Field(32 * 1024, ge=1024)
    max_headers: int = Field(100, ge=8)
    # Slow clients (seconds): a connection must finish a request head this
    # long after it opened or after its previous answer (it also closes idle
    # keep-alive connections); a request body may pause at most
    # client_body_idle_timeout between two pieces and take client_body_timeout
    # in all, else 408 and the connection is closed.
    client_header_timeout: float = Field(60.0, gt=0)
    client_body_idle_timeout: float = Field(30.0, gt=0)
    client_body_timeout: float = Field(900.0, gt=0)
    # Idempotency-Key: how long a key's first answer is kept (seconds), and
    # the largest answer kept (bytes; bigger ones are not replayed).
    idempotency_ttl: float = Field(24 * 3600.0, gt=0)
    idempotency_max_response: int = Field(1024 * 1024, ge=1024)

    # Outbox relay poll interval (seconds) when nothing woke it.
    outbox_poll_interval: float = 0.5
    # Ops/test knob: keep every event in the outbox and publish nothing
    # (writes still commit with their events). Restart without it to publish
    # them; docs/reliability.md uses it to kill a process between a commit
    # and the publish of its events.
    outbox_paused: bool = False

    # Shared by the gateway and the services to sign the caller's identity.
    # `casemesh up` makes a random one; set it explicitly for `casemesh serve`.
    internal_secret: SecretStr = SecretStr("")

    # Workspace of clients whose API has no workspace in its paths (TheHive,
    # Trackops, Kibana) when they log in with HTTP Basic.
    default_workspace: str = "workflow"

    # Directory and sign-in (the cases service issues credentials, the gateway
    # checks them). The administrator `admin` of the default workspace is
    # created once, on the first start, with this password; embedded mode
    # generates one when it is unset, production mode then creates no admin.
    admin_password: SecretStr = SecretStr("")
    # The OAuth2 client registered in the default workspace at every start
    # (ProcessMaker's password grant needs a client_id and client_secret).
    oauth_client_id: str = "casemesh"
    oauth_client_secret: SecretStr = SecretStr("casemesh-secret")
    # Lifetime of an access token (seconds); ProcessMaker's is one day.
    token_ttl: int = Field(86400, ge=1)
    # How long the gateway trusts an answer about a credential (seconds), so a
    # disabled user or revoked key loses access within this time.
    auth_cache_ttl: float = Field(30.0, ge=0, le=60)

    # Cases service: load the process definitions (*.json, *.yaml, *.yml) in
    # this folder into workspace "workflow" at start-up. None: load nothing.
    definitions_dir: Path | None = None

    # How often the cases service looks for due timers (pause ends, overdue tasks).
    timer_interval: float = Field(1.0, gt=0, le=60)

    # Notifications service: the address users reach Casemesh at (links in
    # e-mails) and the case link built from it ({public_url}, {workspace},
    # {app_uid}, {app_number} are filled in).
    public_url: str = "http://127.0.0.1:8080"
    notifications_case_link: str = "{public_url}/api/1.0/{workspace}/cases/{app_uid}"
    # Transient SMTP failures are retried with exponential back-off (first
    # delay, doubling, capped) until the message is this old (seconds).
    notifications_retry_period: float = Field(6 * 3600.0, gt=0)
    notifications_retry_first: float = Field(2.0, gt=0)
    notifications_retry_max: float = Field(300.0, gt=0)
    # A claimed delivery belongs to its sender this long (seconds); after it
    # a crashed sender's delivery is taken over. Must exceed a send's timeout.
    notifications_lease: float = Field(120.0, gt=0)
    # How often the sender looks for due deliveries when nothing woke it.
    notifications_poll_interval: float = Field(1.0, gt=0, le=60)
    # Deliveries sent at the same time by one instance.
    notifications_concurrency: int = Field(8, ge=1, le=64)

    # Documents service: the largest upload (bytes) per workspace, and the
    # default for workspaces not listed (ProcessMaker's 413 beyond it).
    documents_max_upload: int = Field(100 * 1024 * 1024, ge=1)
    documents_upload_limits: dict[str, int] = Field(default_factory=dict)

    log_level: str = "INFO"

    def backend(self, port: Literal["store", "bus", "object", "mail"]) -> str:
        """The adapter chosen for ``port``: its override, else the mode's default."""
        chosen = getattr(self, f"{port}_backend")
        if chosen is not None:
            return chosen
        return EMBEDDED_BACKENDS[port] if self.mode == "embedded" else PRODUCTION_BACKENDS[port]

    def upload_limit(self, workspace: str | None = None) -> int:
        """The largest upload (bytes) of ``workspace``; None: the largest of any workspace."""
        if workspace is None:
            return max([self.documents_max_upload, *self.documents_upload_limits.values()])
        return self.documents_upload_limits.get(workspace, self.documents_max_upload)

    def service_url(self, name: str) -> str:
        return getattr(self, f"{name}_url")
