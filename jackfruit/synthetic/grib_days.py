"""Split a multi-day GRIB file into one file per reference day, every message copied byte for byte.

The real samples (tests/data/grib) span two days each, while ``land`` takes one day: the tests, the stub and
the demos cut them into days with this. Nothing is decoded or re-encoded: each message's bytes (found by the
decoder port's ``scan``: offset and length) are copied as they are, with the zero padding a GRIB1 writer put
after it, so a day file is a byte slice of the original and, for a file written day after day (as the ADS
delivers them), the day files concatenated in order are the original file.

    python -m jackfruit.synthetic.grib_days FILE OUT_DIR
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from datetime import date
from pathlib import Path

from jackfruit.domain.tiling import GribMessage
from jackfruit.ports.transform import GribDecoder


def message_spans(messages: list[GribMessage], size: int) -> list[tuple[int, int]]:
    """(start, stop) of each message with the padding after it: up to the next message, or the end of the file."""
    starts = [m.offset for m in messages]
    return [(m.offset, nxt) for m, nxt in zip(messages, starts[1:] + [size])]


def split_by_day(path: Path, out_dir: Path, decoder: GribDecoder) -> list[tuple[date, Path]]:
    """One file per reference day (UTC date of the reference time) in ``out_dir``, named
    ``{stem}_{YYYY-MM-DD}{suffix}``, holding that day's messages in file order; returns them in day order.

    ``InvalidInput`` (from the decoder) for a file that is not GRIB, truncated, or has bytes outside messages.
    Each day file is written under a temporary name and renamed: a kill leaves no half-written day file."""
    path, out_dir = Path(path), Path(out_dir)
    messages = decoder.scan(str(path))
    spans = message_spans(messages, path.stat().st_size)
    by_day: dict[date, list[tuple[int, int]]] = defaultdict(list)
    for message, span in zip(messages, spans):
        by_day[message.reference_time.date()].append(span)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with open(path, "rb") as src:
        for day in sorted(by_day):
            target = out_dir / f"{path.stem}_{day.isoformat()}{path.suffix}"
            partial = target.with_name(target.name + ".partial")
            with open(partial, "wb") as dst:
                for start, stop in by_day[day]:
                    src.seek(start)
                    body = src.read(stop - start)
                    if len(body) != stop - start:
                        raise OSError(f"{path}: short read at offset {start}: the file changed while being split")
                    dst.write(body)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(partial, target)
            written.append((day, target))
    return written


def main(argv: list[str] | None = None) -> None:
    from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    for day, target in split_by_day(args.file, args.out_dir, EccodesGribDecoder()):
        print(f"{day.isoformat()} {target} {target.stat().st_size} bytes")


if __name__ == "__main__":
    main()
