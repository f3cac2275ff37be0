"""Settings: the one place (with the container) that reads the environment. Seed variable names are accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.errors import InvalidInput

REAL_ADS_URL = "https://ads.atmosphere.copernicus.eu/api"


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
    object_store: Literal["filesystem", "memory"] = Field("filesystem", alias="JACKFRUIT_OBJECT_STORE")
    catalog: Literal["sqlite", "memory"] = Field("sqlite", alias="JACKFRUIT_CATALOG")
    runner: Literal["subprocess", "memory"] = Field("subprocess", alias="JACKFRUIT_RUNNER")
    ingest_binary: str | None = Field(None, alias="JACKFRUIT_INGEST_BINARY")
    ingest_timeout_s: float = Field(3600.0, alias="JACKFRUIT_INGEST_TIMEOUT_S", gt=0)
    sqlite_path: Path | None = Field(None, alias="JACKFRUIT_SQLITE_PATH")

    raw_bucket: str = Field("jackfruit-raw", alias="MINIO_BUCKET")
    curated_bucket: str = Field("jackfruit-curated", alias="JACKFRUIT_CURATED_BUCKET")
    minio_endpoint: str | None = Field(None, alias="MINIO_ENDPOINT")
    minio_access_key: SecretStr | None = Field(None, alias="MINIO_ACCESS_KEY")
    minio_secret_key: SecretStr | None = Field(None, alias="MINIO_SECRET_KEY")

    postgres_host: str = Field("localhost", alias="POSTGRES_HOST")
    postgres_port: int = Field(5432, alias="POSTGRES_PORT")
    postgres_user: str = Field("jackfruit", alias="POSTGRES_USER")
    postgres_password: SecretStr | None = Field(None, alias="POSTGRES_PASSWORD")
    postgres_db: str = Field("jackfruit", alias="POSTGRES_DB")

    ads_base_url: str = Field(REAL_ADS_URL, alias="ADS_BASE_URL")
    ads_api_key: SecretStr = Field(SecretStr(""), alias="ADS_API_KEY")

    @field_validator("data_dir", "sqlite_path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # resolved once, so a later chdir (Dagster, tests) cannot move the buckets
        return None if value is None else value.expanduser().absolute()

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.raw_bucket == self.curated_bucket:
            raise ValueError("the raw and curated buckets must differ (raw is write-once evidence)")
        if self.runner == "subprocess" and self.object_store != "filesystem":
            raise ValueError("the subprocess runner writes to filesystem buckets: set JACKFRUIT_OBJECT_STORE=filesystem")
        return self


def load_settings(data_dir: str | Path | None = None) -> Settings:
    """Settings from the environment (and ``.env``), optionally another data dir; errors name the variable."""
    try:
        return Settings(**({"JACKFRUIT_DATA_DIR": data_dir} if data_dir else {}))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in err.errors())
        raise InvalidInput(f"invalid settings: {problems}") from None
