"""Rebuild the KPI CSVs under data/kpi/ from a checkout of the Donut repository.

    python -m benchmarks.quality.fetch_kpi PATH/TO/DONUT [--out DIR] [--allow-changed]

PATH/TO/DONUT is a checkout of https://github.com/NetManAIOps/donut at commit
ff5c3483fa8120385d1d77f9607982b3b2338a07 or later (the files are checked against the git blob
ids they have there, so a changed file is refused unless ``--allow-changed`` is given).

The three files in its ``sample_data`` folder are real operations metrics (a server's CPU and
two network-interface output series, one point every 5 minutes for 61 days) with operators'
anomaly labels, from the AIOps Challenge KPI data. The converted CSVs are committed; this
script only lets anyone redo the conversion and get byte-identical files. It keeps every row
and writes ``timestamp,value,label``: the Unix-seconds ``timestamp`` as RFC 3339 UTC with
``Z``, the value as the shortest float text that reads back the same, the 0/1 ``label`` as
is. Only the standard library is used.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

from .fetch_corpus import ConversionError, conversion_args, git_blob_id

SOURCE_COMMIT = "ff5c3483fa8120385d1d77f9607982b3b2338a07"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "kpi"
#: Git blob ids of the source files at SOURCE_COMMIT.
BLOB_IDS: dict[str, str] = {
    "sample_data/cpu4.csv": "955960b23d578f561e10ee462ecefb7ac0d8083e",
    "sample_data/server_res_eth1out_curve_6.csv": "2a843069703f5b3dc89bb6e8ffa42c1bfeb4ffcd",
    "sample_data/server_res_eth1out_curve_61.csv": "4bb3b6433f0ad115192b8d884701871304ece474",
}


def convert_file(rel: str, data: bytes) -> tuple[str, int, int]:
    """The converted CSV text of one source file, its points and its labelled points."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows or rows[0] != ["timestamp", "value", "label"]:
        raise ConversionError(f"{rel}: header is not timestamp,value,label")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "label"])
    last, labelled = -math.inf, 0
    for line, row in enumerate(rows[1:], start=2):
        try:
            stamp, value, label = int(row[0]), float(row[1]), row[2]
        except (ValueError, IndexError) as exc:
            raise ConversionError(f"{rel}, line {line}: {exc}") from None
        if stamp <= last or not math.isfinite(value) or label not in ("0", "1"):
            raise ConversionError(f"{rel}, line {line}: not an increasing, finite, 0/1 row")
        last = stamp
        labelled += label == "1"
        when = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([when, repr(value), label])
    return out.getvalue(), len(rows) - 1, labelled


def convert(checkout: Path, out_dir: Path, allow_changed: bool) -> list[tuple[str, int, int]]:
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel, blob in BLOB_IDS.items():
        path = checkout / rel
        if not path.is_file():
            raise ConversionError(f"{path}: missing (is {checkout} a Donut checkout?)")
        data = path.read_bytes()
        if git_blob_id(data) != blob and not allow_changed:
            raise ConversionError(f"{path}: differs from commit {SOURCE_COMMIT} "
                                  "(--allow-changed converts it anyway)")
        text, points, labelled = convert_file(rel, data)
        name = Path(rel).name
        (out_dir / name).write_text(text, encoding="utf-8", newline="")
        written.append((Path(rel).stem, points, labelled))
    return written


def main(argv: list[str] | None = None) -> int:
    args = conversion_args(argv, __doc__, "NetManAIOps/donut", SOURCE_COMMIT, DEFAULT_OUT)
    try:
        written = convert(args.checkout, args.out, args.allow_changed)
    except (ConversionError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, points, labelled in written:
        print(f"{name:32} {points:6} points, {labelled} labelled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
