"""The stub's product command: one JSON line in, the product's bytes out; a refusal is one stderr line and exit 1, a
malformed line exit 2; the product comes from the dataset profiles' ``jackfruit.sources.synthetic_product`` when
that exists, else from CAMS Europe's generator."""

from __future__ import annotations

import io
import sys
import types

import pytest

from jackfruit.domain.errors import InvalidInput
from jackfruit.synthetic import product_command
from jackfruit.synthetic.cams_grib import grib_for_request


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


def test_the_profiles_product_is_preferred_then_cams_europe(monkeypatch):
    monkeypatch.setattr(product_command, "PRODUCER", None)
    fake = types.ModuleType("jackfruit.sources")
    monkeypatch.setitem(sys.modules, "jackfruit.sources", fake)
    assert product_command.producer() is grib_for_request  # the module without the function
    fake.synthetic_product = lambda dataset, request: b"profile"
    assert product_command.producer()("d", {}) == b"profile"
