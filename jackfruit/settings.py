"""Settings: the one place (with the container) that reads the environment. Seed variable names are accepted."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.errors import InvalidInput

REAL_ADS_URL = "https://ads.atmosphere.copernicus.eu/api"


def debug_enabled() -> bool:
    """``JACKFRUIT_DEBUG=1``: the CLI prints the traceback of an unexpected error (read here, not in the CLI,
    so that only this module and the container read the environment; it must work when settings are invalid)."""
    return os.environ.get("JACKFRUIT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


#: said instead of the value of a setting that may hold a credential (URLs, hosts, keys): never echoed
NOT_SHOWN = "(the value is not shown: it may hold a credential)"


def _url(value: str, *, user_ok: bool = False) -> tuple[str, int | None, SplitResult]:
    """Split a URL setting that may carry a credential; errors never show the value. Credentials in it are refused
    (``user_ok``: a bare user name is allowed, as ``ssh://user@host`` in DOCKER_HOST; a password never is)."""
    try:
        url = urlsplit(value)
        userinfo = url.netloc.rpartition("@")[0] if "@" in url.netloc else None
    except ValueError:
        raise ValueError(f"not a valid URL {NOT_SHOWN}") from None
    if userinfo is not None and (not user_ok or ":" in userinfo or not userinfo):
        raise ValueError(f"must not carry credentials (user:password@) {NOT_SHOWN}")
    try:
        port = url.port  # ValueError when not a number or outside 0..65535
    except ValueError:
        raise ValueError(f"has a port that is not a number in 1..65535 {NOT_SHOWN}") from None
    if port == 0:
        raise ValueError(f"has port 0; use 1..65535 {NOT_SHOWN}")
    return url.scheme, port, url


def _plain_name(value: str) -> str:
    """A host, user or database name, never a connection URI or key=value string (which may hold a password)."""
    if "://" in value or "=" in value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"must be a plain name, not a connection URI or string {NOT_SHOWN}")
    return value


def bucket_dir(data_dir: str | Path, bucket: str) -> Path:
    """Where a filesystem bucket lives under the data directory."""
    return Path(data_dir) / "buckets" / bucket


class Settings(BaseSettings):
    """Every field can be set by the environment variable named in its alias (or a ``.env`` file).

    With nothing set, jackfruit runs on the embedded defaults: filesystem buckets and a SQLite
    catalog under ``JACKFRUIT_DATA_DIR`` (``./.jackfruit``) and the Go ingester as a subprocess.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, frozen=True)

    data_dir: Path = Field(Path(".jackfruit"), alias="JACKFRUIT_DATA_DIR")
    object_store: Literal["filesystem", "memory", "s3", "minio"] = Field("filesystem", alias="JACKFRUIT_OBJECT_STORE")
    #: sqlite (embedded, upgrades itself), memory, or postgres (POSTGRES_*; schema by `jackfruit db upgrade`)
    catalog: Literal["sqlite", "memory", "postgres"] = Field("sqlite", alias="JACKFRUIT_CATALOG")
    #: subprocess (the Go ingester as a child), docker (its image in a sibling container), memory (in process)
    runner: Literal["subprocess", "docker", "memory"] = Field("subprocess", alias="JACKFRUIT_RUNNER")
    ingest_binary: str | None = Field(None, alias="JACKFRUIT_INGEST_BINARY")
    #: the Docker runner: the image (built by scripts/ingest-image, never pulled), the container's network mode
    #: (host: reaches loopback services; none: isolated; or a network's name) and optional limits
    #: (memory as 512m / 1g / bytes; CPUs as a number, e.g. 0.5)
    ingest_image: str = Field("jackfruit-ingest:dev", alias="JACKFRUIT_INGEST_IMAGE", min_length=1)
    docker_network: str = Field("host", alias="JACKFRUIT_DOCKER_NETWORK", min_length=1)
    docker_memory: str | None = Field(None, alias="JACKFRUIT_DOCKER_MEMORY")
    docker_cpus: float | None = Field(None, alias="JACKFRUIT_DOCKER_CPUS", gt=0, le=1024)
    ingest_timeout_s: float = Field(3600.0, alias="JACKFRUIT_INGEST_TIMEOUT_S", gt=0)
    sqlite_path: Path | None = Field(None, alias="JACKFRUIT_SQLITE_PATH")
    lease_ttl_s: float = Field(60.0, alias="JACKFRUIT_LEASE_TTL_S", gt=0)
    work_dir: Path | None = Field(None, alias="JACKFRUIT_WORK_DIR")

    raw_bucket: str = Field("jackfruit-raw", alias="MINIO_BUCKET")
    curated_bucket: str = Field("jackfruit-curated", alias="JACKFRUIT_CURATED_BUCKET")
    minio_endpoint: str | None = Field(None, alias="MINIO_ENDPOINT")
    minio_access_key: SecretStr | None = Field(None, alias="MINIO_ACCESS_KEY")
    minio_secret_key: SecretStr | None = Field(None, alias="MINIO_SECRET_KEY")
    #: S3 itself and S3-compatible servers (JACKFRUIT_OBJECT_STORE=s3|minio): MINIO_ENDPOINT is the endpoint
    #: override (unset with s3: AWS S3 of the region); keys unset: boto3's chain (profile, environment,
    #: instance or task role)
    s3_region: str = Field("us-east-1", alias="JACKFRUIT_S3_REGION")
    s3_profile: str | None = Field(None, alias="JACKFRUIT_S3_PROFILE")
    s3_ca_bundle: Path | None = Field(None, alias="JACKFRUIT_S3_CA_BUNDLE")
    #: `storage init` on S3: the raw bucket's default Object Lock retention (days; unset: none), and its mode
    #: (GOVERNANCE locally; the AWS stack sets COMPLIANCE itself: docs/deploy-aws.md)
    raw_retention_days: int | None = Field(None, alias="JACKFRUIT_RAW_RETENTION_DAYS", ge=1, le=36500)
    raw_retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field("GOVERNANCE", alias="JACKFRUIT_RAW_RETENTION_MODE")
    s3_part_size_mib: int = Field(16, alias="JACKFRUIT_S3_PART_SIZE_MIB", ge=5, le=5120)
    s3_concurrency: int = Field(4, alias="JACKFRUIT_S3_CONCURRENCY", ge=1, le=64)

    #: the PostgreSQL + PostGIS catalog (JACKFRUIT_CATALOG=postgres); the password is never logged or echoed
    postgres_host: str = Field("localhost", alias="POSTGRES_HOST")
    postgres_port: int = Field(5432, alias="POSTGRES_PORT", ge=1, le=65535)
    postgres_user: str = Field("jackfruit", alias="POSTGRES_USER")
    postgres_password: SecretStr | None = Field(None, alias="POSTGRES_PASSWORD")
    postgres_db: str = Field("jackfruit", alias="POSTGRES_DB")
    #: how long a catalog call waits for a pooled connection (the server down or every connection busy) before it
    #: fails as BackendUnavailable
    postgres_pool_timeout_s: float = Field(30.0, alias="POSTGRES_POOL_TIMEOUT_S", gt=0, le=3600)
    #: TLS to the server, as libpq's sslmode (unset: libpq's default, prefer); production on RDS: verify-full, with
    #: POSTGRES_SSLROOTCERT the CA bundle file (required by verify-ca/verify-full), or "system" (the system's CAs)
    postgres_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        None, alias="POSTGRES_SSLMODE")
    postgres_sslrootcert: str | None = Field(None, alias="POSTGRES_SSLROOTCERT")

    #: only checked here (the docker SDK reads it itself): errors about it never show it, credentials are refused
    docker_host: str | None = Field(None, alias="DOCKER_HOST")

    ads_base_url: str = Field(REAL_ADS_URL, alias="ADS_BASE_URL")
    ads_api_key: SecretStr = Field(SecretStr(""), alias="ADS_API_KEY")
    #: how patiently the ingester talks to the ADS (ports.runner.AdsTuning; defaults = the binary's,
    #: docs/ingester-protocol.md): first poll interval (also the retry backoff base; the older name
    #: JACKFRUIT_INGEST_POLL_INITIAL_S is still read), poll interval cap, how long a job may stay queued before
    #: the run gives up (0 = only the run's timeout), retries per HTTP call after the first try, cap on any
    #: retry delay (a server's Retry-After included)
    ads_poll_initial_s: float = Field(1.0, validation_alias=AliasChoices("ADS_POLL_INITIAL_S",
                                                                          "JACKFRUIT_INGEST_POLL_INITIAL_S"),
                                      gt=0, le=600)
    ads_poll_max_s: float = Field(120.0, alias="ADS_POLL_MAX_S", gt=0, le=3600)
    ads_queue_deadline_s: float = Field(0.0, alias="ADS_QUEUE_DEADLINE_S", ge=0)
    ads_max_retries: int = Field(9, alias="ADS_MAX_RETRIES", ge=0, le=1000)
    ads_retry_after_cap_s: float = Field(120.0, alias="ADS_RETRY_AFTER_CAP_S", gt=0, le=3600)
    #: at most this many ingestions from the ADS in flight at once across every process sharing the catalog (the
    #: account's queue; counted from live ingest claims, atomically with each claim); unset: no cap
    ads_max_jobs_in_flight: int | None = Field(None, alias="ADS_MAX_JOBS_IN_FLIGHT", ge=1, le=10_000)
    #: how many days back the Dagster coverage sensor looks for missing or late partitions
    sensor_lookback_days: int = Field(14, alias="JACKFRUIT_SENSOR_LOOKBACK_DAYS", ge=1, le=366)
    #: the Dagster housekeeping schedule reaps ingest claims whose lease expired at least this long ago (their runs
    #: fail, keeping their upstream job: the next ingest resumes it) and gc ends every expired attempt
    reap_after_s: float = Field(3600.0, alias="JACKFRUIT_REAP_AFTER_S", ge=0, le=30 * 86400)

    @field_validator("data_dir", "sqlite_path", "work_dir", "s3_ca_bundle")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # resolved once, so a later chdir (Dagster, tests) cannot move the buckets
        return None if value is None else value.expanduser().absolute()

    @field_validator("postgres_sslmode", "postgres_sslrootcert", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("postgres_sslrootcert")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is None or value == "system":
            return value
        path = Path(value).expanduser().absolute()
        if not path.is_file():
            raise ValueError(f"is not a file (the CA bundle that signed the server's certificate) {NOT_SHOWN}")
        return str(path)

    @field_validator("docker_memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().lower()
        if not re.fullmatch(r"[0-9]+[bkmg]?", value) or int(value.rstrip("bkmg")) == 0:
            raise ValueError(f"{value!r} is not a memory size: a positive number of bytes, or with k, m or g")
        return value

    @field_validator("minio_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        scheme, _, url = _url(value)
        if scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be http://host[:port] or https://host[:port] (the scheme chooses TLS; keys go in "
                             f"MINIO_ACCESS_KEY / MINIO_SECRET_KEY) {NOT_SHOWN}")
        if url.path or url.query or url.fragment:
            raise ValueError(f"must be scheme://host[:port] only {NOT_SHOWN}")
        return value

    @field_validator("ads_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # refused here, at once, rather than retried by the ingester until it gives up (or passed on its argv)
        value = value.strip()
        scheme, _, url = _url(value)
        if scheme not in ("http", "https"):
            raise ValueError(f"must be an http:// or https:// URL {NOT_SHOWN}")
        if not url.hostname:
            raise ValueError(f"names no host {NOT_SHOWN}")
        if url.query or url.fragment:  # the ADS API root has neither; a token there would reach the ingester's argv
            raise ValueError(f"must not carry a query or fragment (the key goes in ADS_API_KEY) {NOT_SHOWN}")
        return value

    @field_validator("docker_host")
    @classmethod
    def _docker_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _url(value.strip(), user_ok=value.strip().startswith("ssh://"))
        return value

    @field_validator("ads_api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        if any(c.isspace() or not c.isprintable() for c in value.get_secret_value()):
            raise ValueError(f"holds whitespace or a control character {NOT_SHOWN}")
        return value

    @field_validator("postgres_host", "postgres_user", "postgres_db")
    @classmethod
    def _postgres_name(cls, value: str) -> str:
        return _plain_name(value)

    @property
    def sqlite_file(self) -> Path:
        """The SQLite catalog file: ``JACKFRUIT_SQLITE_PATH``, else ``catalog.sqlite`` in the data directory."""
        return self.sqlite_path or self.data_dir / "catalog.sqlite"

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.raw_bucket == self.curated_bucket:
            raise ValueError("the raw and curated buckets must differ (raw is write-once evidence)")
        if self.runner in ("subprocess", "docker") and self.object_store == "memory":
            raise ValueError(f"the {self.runner} runner cannot write into an in-memory bucket of this process: "
                             "use JACKFRUIT_RUNNER=memory with JACKFRUIT_OBJECT_STORE=memory")
        if self.object_store == "minio" and not self.minio_endpoint:
            raise ValueError("JACKFRUIT_OBJECT_STORE=minio needs MINIO_ENDPOINT (http://host:port or https://…)")
        if (self.minio_access_key is None) != (self.minio_secret_key is None):
            raise ValueError("set both MINIO_ACCESS_KEY and MINIO_SECRET_KEY, or neither")
        if self.postgres_sslmode in ("verify-ca", "verify-full") and self.postgres_sslrootcert is None:
            raise ValueError(f"POSTGRES_SSLMODE={self.postgres_sslmode} needs POSTGRES_SSLROOTCERT (the CA bundle file, "
                             "or \"system\")")
        if self.ads_poll_max_s < self.ads_poll_initial_s:
            raise ValueError(f"ADS_POLL_MAX_S ({self.ads_poll_max_s:g}) must be at least ADS_POLL_INITIAL_S "
                             f"({self.ads_poll_initial_s:g})")
        return self


def load_settings(data_dir: str | Path | None = None) -> Settings:
    """Settings from the environment (and ``.env``), optionally another data dir; errors name the variable."""
    try:
        return Settings(**({"JACKFRUIT_DATA_DIR": data_dir} if data_dir else {}))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in err.errors())
        raise InvalidInput(f"invalid settings: {problems}") from None
