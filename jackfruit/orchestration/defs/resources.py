"""The one Dagster resource: builds the ``Jackfruit`` facade from jackfruit's own settings, and closes it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import dagster as dg
from pydantic import ValidationError

from jackfruit.app import Jackfruit
from jackfruit.domain.errors import InvalidInput
from jackfruit.settings import Settings

#: how many days back the coverage sensor looks for missing or late partitions, unless configured
MAX_LOOKBACK_DAYS = 366


class JackfruitResource(dg.ConfigurableResource):
    """The environment switch stays in one place, jackfruit's settings (``JACKFRUIT_*``, ``MINIO_*``,
    ``POSTGRES_*``, ``ADS_*`` or ``.env``): every field here is optional and, when set, replaces that one
    setting. Secrets the resource takes come in through ``dg.EnvVar`` (``definitions.py``), never as literals.

    ``with resource.open() as app:`` builds the facade for one step and closes it (the SQL catalog holds a
    connection pool)."""

    data_dir: Optional[str] = None  # JACKFRUIT_DATA_DIR
    ads_base_url: Optional[str] = None  # ADS_BASE_URL
    ads_api_key: Optional[str] = None  # ADS_API_KEY: a secret, set with dg.EnvVar
    #: the coverage sensor's look-back in days (default: the setting JACKFRUIT_SENSOR_LOOKBACK_DAYS, else 14)
    sensor_lookback_days: Optional[int] = None

    def settings(self) -> Settings:
        """jackfruit's settings with this resource's fields applied; invalid ones name the variable."""
        fields = {"JACKFRUIT_DATA_DIR": self.data_dir, "ADS_BASE_URL": self.ads_base_url,
                  "ADS_API_KEY": self.ads_api_key}
        try:
            return Settings(**{name: value for name, value in fields.items() if value is not None})
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                                 for e in err.errors())
            raise InvalidInput(f"invalid settings: {problems}") from None

    @contextmanager
    def open(self) -> Iterator[Jackfruit]:
        """The facade wired from the settings, closed when the block ends (also on error)."""
        with Jackfruit.from_settings(self.settings()) as app:
            yield app

    def lookback_days(self) -> int:
        """The sensor's bounded look-back: this resource's field, else the setting (JACKFRUIT_SENSOR_LOOKBACK_DAYS,
        default 14)."""
        days = self.sensor_lookback_days
        if days is None:
            days = self.settings().sensor_lookback_days
        if not 1 <= int(days) <= MAX_LOOKBACK_DAYS:
            raise InvalidInput(f"the sensor look-back must be 1..{MAX_LOOKBACK_DAYS} days, not {days}")
        return int(days)
