"""The ADS stub's product command: ``ads-stub --product-command '["python", "-m", "jackfruit.synthetic.product_command"]'``.

For each job the stub runs this once with one JSON line on stdin, ``{"dataset": "<upstream dataset id>", "request":
{...inputs as submitted...}}``, and serves what it writes on stdout as the job's product. A request the product
refuses exits 1 with one line on stderr (``invalid request: ...``, which the stub makes the failed job's error); a
malformed stdin line exits 2.

The product comes from ``producer()``: ``PRODUCER`` when a caller set it, else the registered source profiles'
(``jackfruit.registry.default_registry().synthetic_product``: the profile whose upstream id and fixed request fields
answer the request makes it). Both take ``(upstream_dataset, request)`` and return the bytes. A request no profile
answers is refused like any other (``NotFound`` is a domain error).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Mapping

from jackfruit.domain.errors import JackfruitError

Producer = Callable[[str, Mapping[str, Any]], bytes]

#: set to override what makes the products (None: the registered source profiles')
PRODUCER: Producer | None = None

#: the longest stdin line read (the stub sends one request: small)
MAX_LINE = 1 << 20


def producer() -> Producer:
    """What makes the products: ``PRODUCER``, else the registered source profiles'."""
    if PRODUCER is not None:
        return PRODUCER
    from jackfruit.registry import default_registry  # discovered only when a product is asked for

    return default_registry().synthetic_product


def parse_line(line: bytes) -> tuple[str, dict[str, Any]]:
    """The stdin line's ``(dataset, request)``; ``ValueError`` naming what is wrong."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"the stdin line is not JSON ({err})") from err
    if not isinstance(obj, dict) or not isinstance(obj.get("dataset"), str) or not obj["dataset"] \
            or not isinstance(obj.get("request"), dict):
        raise ValueError('the stdin line must be {"dataset": "<upstream dataset id>", "request": {...}}')
    return obj["dataset"], obj["request"]


def main() -> int:
    line = sys.stdin.buffer.readline(MAX_LINE + 1)
    try:
        if len(line) > MAX_LINE:
            raise ValueError(f"the stdin line is longer than {MAX_LINE} bytes")
        dataset, request = parse_line(line)
    except ValueError as err:
        print(f"product_command: {err}", file=sys.stderr)
        return 2
    try:
        body = producer()(dataset, request)
    except JackfruitError as err:  # the upstream's refusal of the request: one line, the job's error
        print(f"invalid request: {err}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(body)  # made whole first: a failure above writes nothing
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
