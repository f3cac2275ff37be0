"""The one error family: every port and use case raises these, never a driver's exception."""

from __future__ import annotations


class JackfruitError(Exception):
    """Base of every error jackfruit raises on purpose."""

    #: Stable machine-readable kind, also the CLI's ``--json`` error ``kind``.
    kind = "error"
    #: Exit code the CLI uses for this family (documented in README).
    exit_code = 1

    def __init__(self, *args: object, problems: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(*args)
        #: every problem, when the message summarises many (the CLI's ``--json`` error lists them all)
        self.problems = tuple(problems)


class InvalidInput(JackfruitError):
    """The caller asked for something malformed or impossible (bad bbox, bad key, bad GRIB...)."""

    kind = "invalid_input"
    exit_code = 2


class NotFound(JackfruitError):
    """A named dataset, run, tile or object does not exist."""

    kind = "not_found"
    exit_code = 3


class Conflict(JackfruitError):
    """The write would change something that already exists (raw keys are write-once)."""

    kind = "conflict"
    exit_code = 4


class IntegrityError(JackfruitError):
    """Stored bytes do not match what the catalog recorded (size, checksum, truncation)."""

    kind = "integrity"
    exit_code = 5


class BackendUnavailable(JackfruitError):
    """A backend (store, catalog, upstream API, runner) could not be reached or gave up."""

    kind = "unavailable"
    exit_code = 6


class UpstreamRefused(JackfruitError):
    """The source (e.g. the ADS) refused the request or the job failed there."""

    kind = "upstream_refused"
    exit_code = 7


class UpstreamExpired(UpstreamRefused):
    """The source discarded a job's results before they could be fetched -- and those of the one job submitted
    again for the same request too (the ingester's kind ``expired``). Trying again later may succeed."""

    kind = "upstream_expired"
    exit_code = 8
