"""Rebuild the SKAB CSVs under data/skab/ from a checkout of the SKAB repository.

    python benchmarks/quality/fetch_corpus.py PATH/TO/SKAB [--out DIR] [--allow-changed]

PATH/TO/SKAB is a checkout of https://github.com/waico/SKAB, pinned at commit
b2c0d46c2971dcbfe71e26087b6d231998bb91c2 (``git clone`` then ``git checkout`` that commit).
Each source file is checked against the git blob id it has at that commit, so a different
revision is refused unless ``--allow-changed`` is given.

The benchmark itself never needs this script: the converted CSVs are committed. It exists so
that anyone can redo the conversion and get byte-identical files. What it does:

* reads each experiment file (``;``-separated, columns ``datetime``, eight sensor channels,
  ``anomaly``, ``changepoint``);
* keeps one sensor channel per experiment (``CHANNELS`` below; three for the anomaly-free run);
* writes ``timestamp,value,label``: ``datetime`` as RFC 3339 with ``Z`` (wall-clock digits
  unchanged, since the source states no zone), the channel as a float, and the ``anomaly``
  column as the 0/1 label; the ``changepoint`` column is dropped;
* copies the repository's LICENSE (GNU GPL v3) next to the CSVs.

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SOURCE_COMMIT = "b2c0d46c2971dcbfe71e26087b6d231998bb91c2"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "skab"

FLOW = "Volume Flow RateRMS"
ACCEL1 = "Accelerometer1RMS"
THERMOCOUPLE = "Thermocouple"

# Short names used in the output file names.
SLUGS: dict[str, str] = {FLOW: "flow", ACCEL1: "accel1", THERMOCOUPLE: "thermocouple"}

# Source file (relative to the checkout) -> the channel(s) exported from it. The channel is the
# one the fault acts on physically, per the experiment descriptions in SKAB's data/README.md:
# valve closures, leaks, water added or drained and cavitation act on the circulation flow; rotor
# imbalance acts on vibration; hot-water supply acts on the fluid temperature.
CHANNELS: dict[str, tuple[str, ...]] = {
    **{f"data/valve1/{i}.csv": (FLOW,) for i in range(16)},
    **{f"data/valve2/{i}.csv": (FLOW,) for i in range(4)},
    **{f"data/other/{i}.csv": (FLOW,) for i in (1, 2, 3, 4)},
    **{f"data/other/{i}.csv": (ACCEL1,) for i in (5, 6, 7, 8, 9)},
    **{f"data/other/{i}.csv": (FLOW,) for i in (10, 11, 12, 13)},
    "data/other/14.csv": (THERMOCOUPLE,),
    "data/anomaly-free/anomaly-free.csv": (FLOW, ACCEL1, THERMOCOUPLE),
}

# Git blob ids of the source files at SOURCE_COMMIT.
BLOB_IDS: dict[str, str] = {
    "LICENSE": "f288702d2fa16d3cdf0035b15a9fcbc552cd88e7",
    "data/anomaly-free/anomaly-free.csv": "cbad1cdbe8c64db96e4a750c89af327224987469",
    "data/other/1.csv": "1d5cb568fbd330367d3af3f57d2ffe37bc3d68b6",
    "data/other/10.csv": "ef35c57b869390be8ca1ddf9a6de518f86cd744c",
    "data/other/11.csv": "9887341c06a845f372f64ddc26cb3b71e2dd94c5",
    "data/other/12.csv": "5f1e94f1ff74992c92c632fee358299dd8a8bc85",
    "data/other/13.csv": "3a6a89a7c5e63d1a5beb6358748ba1aafed9456c",
    "data/other/14.csv": "c3934e4d80b842fb114711dbf586798d25f5c82e",
    "data/other/2.csv": "dd66fd4413c28890447d062a69759b42c06fbbb1",
    "data/other/3.csv": "42c6ba2e36ff3b7e25e4a90dfa6c25a93dc7ac82",
    "data/other/4.csv": "c453c17da21df13c6609d76df0dbfab2d4a62426",
    "data/other/5.csv": "f302805c7afb73e215cb9b8af874232720871678",
    "data/other/6.csv": "8fbda89f0245c38fee59bac9e7349394bb660d5d",
    "data/other/7.csv": "326c7b4f2f0beb430674e7328fcbc8daf22d4c9a",
    "data/other/8.csv": "2676697f46974ae32de8c1a9775a89431dc9e0ab",
    "data/other/9.csv": "5f7ec3c03b535dbafa1ed3d18e0f4679e0c4a69a",
    "data/valve1/0.csv": "2ce187800cfc29a3fc533250b62149f68f55c0ee",
    "data/valve1/1.csv": "d4ce8f6ed422f22efb2c2679f735fc3dd5ea60c5",
    "data/valve1/10.csv": "a441bf8e7038af7cb52cd0e7005e9cbeccceb37e",
    "data/valve1/11.csv": "026521ed3d29a0ca86845f3514260973c59d8571",
    "data/valve1/12.csv": "51b0d94b3e53375a2eab9ef5ac85789e6e08afbc",
    "data/valve1/13.csv": "fe426d4fc5d495d7c4abcab6d9ddc4fa100ea2a5",
    "data/valve1/14.csv": "d1cab0dce9c90c1a47ff844cb6a16e66e2c2ef42",
    "data/valve1/15.csv": "dc0813ec1163e1e43ae6947ce99556c90971cedd",
    "data/valve1/2.csv": "70e2f50cbe6463c4dfcc95c6f6d40d67be94e7e5",
    "data/valve1/3.csv": "2792f18d7832e79117725da7046a17a5f40f2dee",
    "data/valve1/4.csv": "2cfb48e20657e00562e49ba5658a1ef304750404",
    "data/valve1/5.csv": "65418bfb531d7e4ef894a0d6b00eac3a27b0dabd",
    "data/valve1/6.csv": "3a3fd32f0f232fcfb31e9268629837a0c8228a58",
    "data/valve1/7.csv": "3fb99f907437f4e0419e7737dd2619abe4b14a03",
    "data/valve1/8.csv": "290ba1a262657e06ff04cee5a022655d0068e463",
    "data/valve1/9.csv": "4e57a96cb5739ceba6c2ca9318c1d5f43e3b80ff",
    "data/valve2/0.csv": "85ec83c9a4c3c2af065387466dc5d5b45758c8d9",
    "data/valve2/1.csv": "d2426c2390c2a5b14f973ff418a8becb8938c970",
    "data/valve2/2.csv": "a4c1abe69c1caedf0ccc9bd86d62bf421acc2b75",
    "data/valve2/3.csv": "12475370ef2d4817ce7158dcb42b4664442c8a41",
}

SOURCE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ConversionError(Exception):
    """A source file is missing, changed or not in the expected shape."""


@dataclass(frozen=True)
class Converted:
    """One written series, for the summary."""

    name: str
    points: int
    windows: list[tuple[int, int]]


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def read_checked(checkout: Path, rel: str, allow_changed: bool) -> bytes:
    path = checkout / rel
    if not path.is_file():
        raise ConversionError(f"{path}: missing from the checkout")
    data = path.read_bytes()
    if git_blob_id(data) != BLOB_IDS[rel] and not allow_changed:
        raise ConversionError(
            f"{path}: differs from SKAB commit {SOURCE_COMMIT} "
            "(check out that commit, or pass --allow-changed)"
        )
    return data


def output_name(rel: str, channel: str) -> str:
    """``data/valve1/3.csv`` + flow -> ``valve1-3_flow.csv``."""
    group = Path(rel).parent.name
    stem = Path(rel).stem
    base = group if stem == group else f"{group}-{stem}"
    return f"{base}_{SLUGS[channel]}.csv"


def label_windows(labels: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, label in enumerate(labels):
        if label == 1 and start is None:
            start = i
        elif label == 0 and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(labels)))
    return spans


def convert_file(rel: str, data: bytes, out_dir: Path) -> list[Converted]:
    lines = data.decode("utf-8").splitlines()
    reader = csv.reader(lines, delimiter=";")
    header = next(reader, None)
    if header is None:
        raise ConversionError(f"{rel}: empty file")
    columns = {name: i for i, name in enumerate(header)}
    for needed in ("datetime", *CHANNELS[rel]):
        if needed not in columns:
            raise ConversionError(f"{rel}: no column {needed!r} in header {header}")
    has_labels = "anomaly" in columns

    stamps: list[str] = []
    raw_labels: list[int] = []
    values: dict[str, list[float]] = {channel: [] for channel in CHANNELS[rel]}
    previous: datetime | None = None
    for row in reader:
        where = f"{rel} line {reader.line_num}"
        if len(row) != len(header):
            raise ConversionError(f"{where}: {len(row)} fields, header has {len(header)}")
        try:
            moment = datetime.strptime(row[columns["datetime"]], SOURCE_TIME_FORMAT)
            row_values = {channel: float(row[columns[channel]]) for channel in CHANNELS[rel]}
            flag = float(row[columns["anomaly"]]) if has_labels else 0.0
        except ValueError as exc:
            raise ConversionError(f"{where}: {exc}") from exc
        if previous is not None and moment <= previous:
            raise ConversionError(f"{where}: timestamp does not increase")
        previous = moment
        stamps.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for channel, value in row_values.items():
            if not math.isfinite(value):
                raise ConversionError(f"{where}: non-finite {channel} value")
            values[channel].append(value)
        if flag not in (0.0, 1.0):
            raise ConversionError(f"{where}: anomaly flag {flag} is not 0 or 1")
        raw_labels.append(int(flag))

    written: list[Converted] = []
    for channel in CHANNELS[rel]:
        name = output_name(rel, channel)
        with (out_dir / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["timestamp", "value", "label"])
            for stamp, value, label in zip(stamps, values[channel], raw_labels, strict=True):
                writer.writerow([stamp, repr(value), label])
        written.append(Converted(Path(name).stem, len(stamps), label_windows(raw_labels)))
    return written


def convert(checkout: Path, out_dir: Path, allow_changed: bool) -> list[Converted]:
    license_text = read_checked(checkout, "LICENSE", allow_changed)
    if b"GNU GENERAL PUBLIC LICENSE" not in license_text[:200]:
        raise ConversionError(f"{checkout / 'LICENSE'}: not the GNU GPL text expected")
    sources = {rel: read_checked(checkout, rel, allow_changed) for rel in CHANNELS}
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.csv"):
        stale.unlink()
    shutil.copyfile(checkout / "LICENSE", out_dir / "LICENSE")
    written: list[Converted] = []
    for rel in sorted(sources):
        written.extend(convert_file(rel, sources[rel], out_dir))
    return written


def conversion_args(argv: list[str] | None, doc: str | None, repository: str, commit: str,
                    default_out: Path) -> argparse.Namespace:
    """The arguments of a corpus conversion: a checkout of ``repository``, ``--out`` and
    ``--allow-changed`` (convert even if its files differ from ``commit``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("checkout", type=Path, help=f"path to a checkout of {repository}")
    parser.add_argument("--out", type=Path, default=default_out, help="output folder")
    parser.add_argument("--allow-changed", action="store_true",
                        help=f"convert even if the files differ from commit {commit}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = conversion_args(argv, __doc__, "waico/SKAB", SOURCE_COMMIT, DEFAULT_OUT)
    try:
        written = convert(args.checkout, args.out, args.allow_changed)
    except (ConversionError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for series in written:
        spans = " ".join(f"[{a},{b})" for a, b in series.windows) or "-"
        print(f"{series.name:32} {series.points:6} points  windows {spans}")
    points = sum(series.points for series in written)
    window_count = sum(len(series.windows) for series in written)
    print(f"{len(written)} series, {points} points, {window_count} anomaly windows -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
