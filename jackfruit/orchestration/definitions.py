"""The Definitions Dagster loads: ``dagster dev -m jackfruit.orchestration.definitions`` (or ``-f`` this file).

Everything else is jackfruit's settings (the environment): the resource takes only the ADS key, as a secret.
"""

import dagster as dg

from jackfruit.orchestration.defs import JackfruitResource, build_definitions

defs = build_definitions(jackfruit=JackfruitResource(ads_api_key=dg.EnvVar("ADS_API_KEY")))
