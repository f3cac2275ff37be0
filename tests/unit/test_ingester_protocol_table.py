"""The Go ingester's contract is written once, in docs/ingester-protocol.md: the Python side must say the same
(error kinds -> classes -> exit codes; the tuning defaults; the argv the tuning becomes; the events)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from jackfruit.adapters.runner import ingester_protocol as protocol
from jackfruit.domain import errors
from jackfruit.ports import IngestJob, Secret, SinkTarget, Upstream
from jackfruit.ports.runner import AdsTuning, RunnerEvent

DOC = Path(__file__).resolve().parents[2] / "docs" / "ingester-protocol.md"
TABLE_HEADER = "| kind | exit code | Python error class | when |"


def _rows(header: str) -> list[list[str]]:
    """The cells (stripped of backticks) of the markdown table that starts with ``header`` in the doc."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip().startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    return rows


def doc_table() -> dict[str, tuple[tuple[int, ...], str]]:
    """kind -> (exit codes, Python class name), from the doc's one exit-code table."""
    table = {}
    for kind, exit_cell, cls, _when in _rows(TABLE_HEADER):
        table[kind] = (tuple(int(x) for x in re.split(r"\s*/\s*", exit_cell)), cls)
    return table


def test_the_doc_has_the_table():
    table = doc_table()
    assert len(table) >= 10 and table["conflict"] == ((4,), "Conflict")


def test_kinds_map_to_the_documented_classes_and_exit_codes():
    table = doc_table()
    assert set(protocol.KINDS) == set(table), "KINDS and docs/ingester-protocol.md name different kinds"
    for kind, cls in protocol.KINDS.items():
        exits, name = table[kind]
        assert cls.__name__ == name, f"{kind}: KINDS maps to {cls.__name__}, the doc says {name}"
        assert getattr(errors, name) is cls
        if kind == "cancelled":  # the signal convention, as the CLI's own interrupted / terminated exits
            assert exits == (130, 143)
        else:
            assert exits == (cls.exit_code,), f"{kind}: the doc says exit {exits}, {name}.exit_code is {cls.exit_code}"


def test_one_exit_code_per_family():
    families = [errors.InvalidInput, errors.NotFound, errors.Conflict, errors.IntegrityError,
                errors.BackendUnavailable, errors.UpstreamRefused, errors.UpstreamExpired]
    codes = [f.exit_code for f in families]
    assert len(set(codes)) == len(codes) and errors.JackfruitError.exit_code not in codes
    assert issubclass(errors.UpstreamExpired, errors.UpstreamRefused)
    assert errors.UpstreamExpired.kind != errors.UpstreamRefused.kind


def _flag_defaults() -> dict[str, str]:
    return {row[0].split()[0]: row[1] for row in _rows("| flag | default | meaning |")}


def _seconds(go_duration: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(ms|s|m)", go_duration.split()[0].strip("`")).groups()
    return float(value) * {"ms": 0.001, "s": 1, "m": 60}[unit]


def test_tuning_defaults_are_the_binarys_documented_defaults():
    doc, t = _flag_defaults(), AdsTuning()
    assert t.poll_initial_s == _seconds(doc["--poll-initial"])
    assert t.poll_max_s == _seconds(doc["--poll-max"])
    assert t.queue_deadline_s == _seconds(doc["--queue-deadline"])
    assert t.max_retries == int(doc["--max-retries"]) == int(doc["--max-tries"]) - 1
    assert t.retry_after_cap_s == _seconds(doc["--retry-after"])


def test_settings_defaults_are_the_tuning_defaults(monkeypatch):
    from jackfruit.settings import Settings

    for name in ("ADS_POLL_INITIAL_S", "JACKFRUIT_INGEST_POLL_INITIAL_S", "ADS_POLL_MAX_S", "ADS_QUEUE_DEADLINE_S",
                 "ADS_MAX_RETRIES", "ADS_RETRY_AFTER_CAP_S"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert AdsTuning(s.ads_poll_initial_s, s.ads_poll_max_s, s.ads_queue_deadline_s, s.ads_max_retries,
                     s.ads_retry_after_cap_s) == AdsTuning()


JOB = IngestJob("r", "cams-europe-air-quality-forecasts", {"variable": ["ozone"]},
                "ads/cams-europe-air-quality-forecasts/2025-03-12/r.grib", Upstream("http://ads", Secret("k")))


def test_tuning_becomes_flags_and_extra_args_still_win():
    sink = SinkTarget.directory("/tmp/raw")
    plain = protocol.build_args("bin", JOB, sink, 60)
    assert not {"--poll-initial", "--poll-max", "--queue-deadline", "--max-retries", "--retry-after"} & set(plain)
    tuning = AdsTuning(poll_initial_s=0.05, poll_max_s=2.5, queue_deadline_s=600, max_retries=3,
                       retry_after_cap_s=30)
    args = protocol.build_args("bin", JOB, sink, 60, ("--poll-initial", "10ms"), tuning)
    flags = dict(zip(args[1::2], args[2::2]))
    assert flags["--poll-max"] == "2500ms" and flags["--queue-deadline"] == "600000ms"
    assert flags["--max-retries"] == "3" and flags["--retry-after"] == "30000ms"
    assert args.index("--poll-initial") < len(args) - 2 and args[-2:] == ["--poll-initial", "10ms"]
    assert args[args.index("--poll-initial") + 1] == "50ms"  # the tuning's, overridden by the extra one after it


def test_the_settings_reach_every_runner_that_starts_the_binary(tmp_path):
    pytest.importorskip("docker")
    from jackfruit.container import build_container
    from jackfruit.settings import Settings

    for runner in ("subprocess", "docker"):
        settings = Settings(_env_file=None, JACKFRUIT_DATA_DIR=tmp_path, JACKFRUIT_RUNNER=runner,
                            ADS_POLL_INITIAL_S=0.25, ADS_POLL_MAX_S=9, ADS_QUEUE_DEADLINE_S=1800, ADS_MAX_RETRIES=4,
                            ADS_RETRY_AFTER_CAP_S=60)
        built = build_container(settings).runner()
        assert built._tuning == AdsTuning(0.25, 9, 1800, 4, 60), runner


def test_submitted_events_carry_the_job_they_replace():
    assert protocol.parse_event({"event": "submitted", "ads_job_id": "new", "status": "accepted",
                                 "replaces": "old"}) == RunnerEvent("submitted", upstream_job_id="new", replaces="old")
    assert protocol.parse_event({"event": "submitted", "ads_job_id": "a"}).replaces is None
    assert [f.name for f in fields(RunnerEvent)][-1] == "replaces"  # optional, last: positional callers unchanged


def test_expired_is_its_own_error_with_the_replacement_job():
    line = '{"error": {"kind": "expired", "message": "results of job b expired", "ads_job_id": "b"}}'
    with pytest.raises(errors.UpstreamExpired) as caught:
        protocol.parse_result(line, 8, "k", upstream_job_id="a")
    assert caught.value.upstream_job_id == "b" and caught.value.exit_code == 8
