"""The stub's product command: one JSON line in, the product's bytes out; a refusal is one stderr line and exit 1, a
malformed line exit 2; by default the registered source profiles make the product (the one whose upstream id and
fixed fields answer the request)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from jackfruit.domain.errors import InvalidInput
from jackfruit.synthetic import product_command
from jackfruit.registry import default_registry
from jackfruit.sources.cams_europe.synthetic import grib_for_request


class Pipe(io.TextIOWrapper):
    def __init__(self, data: bytes = b"") -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")


def run(monkeypatch, line: bytes, producer=None) -> tuple[int, bytes, str]:
    monkeypatch.setattr(product_command, "PRODUCER", producer)
    stdin, stdout, stderr = Pipe(line), Pipe(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    code = product_command.main()
    return code, stdout.buffer.getvalue(), stderr.getvalue()


def test_the_product_of_the_line_is_written_whole(monkeypatch):
    seen = []

    def make(dataset, request):
        seen.append((dataset, request))
        return b"GRIB...7777"

    code, out, err = run(monkeypatch, b'{"dataset": "up-id", "request": {"date": ["2025-03-12"]}}\n', make)
    assert (code, out, err) == (0, b"GRIB...7777", "") and seen == [("up-id", {"date": ["2025-03-12"]})]


def test_a_refused_request_is_one_stderr_line_and_no_output(monkeypatch):
    def refuse(dataset, request):
        raise InvalidInput("unknown variable 'nox'")

    code, out, err = run(monkeypatch, b'{"dataset": "up-id", "request": {}}\n', refuse)
    assert code == 1 and out == b"" and err == "invalid request: unknown variable 'nox'\n"


@pytest.mark.parametrize("line", [b"", b"not json\n", b'{"dataset": "", "request": {}}\n', b'{"dataset": "d"}\n',
                                  b'["d", {}]\n'])
def test_a_malformed_line_exits_2(monkeypatch, line):
    code, out, err = run(monkeypatch, line, lambda d, r: b"x")
    assert code == 2 and out == b"" and err.startswith("product_command: the stdin line")


REQUEST = {"variable": ["ozone"], "date": ["2025-03-12"], "time": ["00:00"], "leadtime_hour": ["0"],
           "area": [50.05, 0.05, 49.05, 1.05]}


def test_by_default_the_registered_profiles_make_the_product(monkeypatch):
    monkeypatch.setattr(product_command, "PRODUCER", None)
    assert product_command.producer() == default_registry().synthetic_product
    analysis = {**REQUEST, "type": ["analysis"]}  # the analyses' profile answers: same upstream id, type analysis
    line = json.dumps({"dataset": "cams-europe-air-quality-forecasts", "request": analysis}).encode() + b"\n"
    code, out, err = run(monkeypatch, line)
    assert (code, err) == (0, "") and out == grib_for_request("cams-europe-air-quality-forecasts", analysis)
    code, out, err = run(monkeypatch, b'{"dataset": "no-such-upstream", "request": {}}\n')
    assert code == 1 and out == b"" and "no-such-upstream" in err and err.count("\n") == 1
