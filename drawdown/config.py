"""Configuration from ``DRAWDOWN_*`` environment variables, with defaults for a laptop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from drawdown.db.urls import sqlalchemy_url

ServiceName = Literal["metering", "credits", "invoicing"]
SERVICES: tuple[ServiceName, ...] = ("metering", "credits", "invoicing")


class Settings(BaseSettings):
    """Every setting a Drawdown process reads. The README's configuration table mirrors it."""

    model_config = SettingsConfigDict(env_prefix="DRAWDOWN_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db). Unset: an embedded "
        "PostgreSQL is started with its data under DRAWDOWN_HOME.",
    )
    home: Path = Field(
        default=Path(".drawdown"), description="Local state: embedded PostgreSQL data, dev keys."
    )
    host: str = Field(default="127.0.0.1", description="Interface the gRPC servers bind to.")
    metering_port: int = Field(default=50051, description="gRPC port of the metering service.")
    credits_port: int = Field(default=50052, description="gRPC port of the credits service.")
    invoicing_port: int = Field(default=50053, description="gRPC port of the invoicing service.")
    http_enabled: bool = Field(
        default=True,
        description="Serve every RPC as HTTP/1.1 + JSON too (the Connect protocol), each service on its "
        "HTTP port, with its OpenAPI document at /openapi.json (O-5).",
    )
    metering_http_port: int = Field(default=50061, description="HTTP/JSON port of the metering service.")
    credits_http_port: int = Field(default=50062, description="HTTP/JSON port of the credits service.")
    invoicing_http_port: int = Field(default=50063, description="HTTP/JSON port of the invoicing service.")
    metering_address: str = Field(default="127.0.0.1:50051", description="Where invoicing reaches metering.")
    credits_address: str = Field(default="127.0.0.1:50052", description="Where invoicing reaches credits.")
    invoicing_address: str = Field(default="127.0.0.1:50053", description="Where the CLI reaches invoicing.")
    api_key: str | None = Field(
        default=None, description="API key the CLI's read commands and demo send (default: the dev key)."
    )
    service_api_key: str | None = Field(
        default=None, description="API key (role service) invoicing sends to metering and credits."
    )
    service_api_key_file: Path | None = Field(
        default=None,
        description="File holding the service API key (a mounted secret, the keys `drawdown bootstrap` "
        "writes); read when DRAWDOWN_SERVICE_API_KEY is unset.",
    )
    metrics_port: int = Field(
        default=0,
        description="Prometheus /metrics port; 0 disables. `drawdown up` gives each service port+i.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["console", "json"] = Field(default="console", description="console or json.")
    db_pool_size: int = Field(
        default=10,
        ge=4,
        description=(
            "Database connections per service process, all told: the health probe's and the"
            " events' LISTEN, then half of the rest (rounded up) for the hot paths' raw pool"
            " and the others for the units of work."
        ),
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/gRPC endpoint spans are exported to (http://collector:4317); unset: no "
        "spans are recorded, unless OTEL_EXPORTER_OTLP_ENDPOINT is set (O-4).",
    )
    processes: int = Field(
        default=1,
        ge=1,
        description="Server processes per service, sharing its port (SO_REUSEPORT); about one per core.",
    )
    peer_connections: int = Field(
        default=4,
        ge=1,
        le=64,
        description=(
            "Connections invoicing opens to each of metering and credits, its calls taking them"
            " in turn, so that every process of a service run with DRAWDOWN_PROCESSES gets its share."
        ),
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending migrations when a service starts."
    )
    event_retention_days: int = Field(
        default=30, ge=30, description="Days each service keeps its events (E-3): at least 30."
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=10.0,
        description="How long a webhook delivery being attempted is kept from other dispatchers; "
        "after a dispatcher dies mid-attempt, it is attempted again once this has passed.",
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        description="On SIGTERM: seconds in-flight calls get to finish before they are cancelled.",
    )
    tls_cert_file: Path | None = Field(default=None, description="Server certificate (PEM); enables TLS.")
    tls_key_file: Path | None = Field(default=None, description="Server private key (PEM).")
    tls_client_ca_file: Path | None = Field(
        default=None, description="CA for client certificates; enables mTLS."
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=5.0,
        description="How long a verified API key is trusted unchecked (at most 5 s: a revoked key "
        "stops working within it, O-3).",
    )

    @field_validator("database_url")
    @classmethod
    def _is_a_postgresql_url(cls, url: str | None) -> str | None:
        if url:
            try:
                sqlalchemy_url(url)
            except ArgumentError:
                raise ValueError(
                    "not a URL; expected postgresql://user:password@host:5432/database"
                ) from None
        return url

    @model_validator(mode="after")
    def _read_service_api_key_file(self) -> Settings:
        if self.service_api_key is None and self.service_api_key_file is not None:
            try:
                self.service_api_key = self.service_api_key_file.read_text().strip()
            except OSError as error:
                raise ValueError(f"DRAWDOWN_SERVICE_API_KEY_FILE: {error}") from error
        return self

    def port_of(self, service: ServiceName) -> int:
        return {
            "metering": self.metering_port,
            "credits": self.credits_port,
            "invoicing": self.invoicing_port,
        }[service]

    def http_port_of(self, service: ServiceName) -> int:
        return {
            "metering": self.metering_http_port,
            "credits": self.credits_http_port,
            "invoicing": self.invoicing_http_port,
        }[service]

    @property
    def shutdown_grace(self) -> timedelta:
        return timedelta(seconds=self.shutdown_grace_seconds)
