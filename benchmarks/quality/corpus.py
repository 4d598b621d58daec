"""Loads the labelled real-metric series that the anomaly-detection quality benchmark scores."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

from .synthetic import LabelledSeries

DATA_ROOT = Path(__file__).resolve().parent / "data"
HEADER = ["timestamp", "value", "label"]


class CorpusFormatError(ValueError):
    """A corpus CSV file has a malformed header or row."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


# One record type for both corpora: the synthetic one's, whose extra fields have defaults.
__all__ = ["LabelledSeries", "load_corpus", "load_series", "windows"]


def _parse_timestamp(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError(f"timestamp {text!r} is not RFC 3339 UTC ending in 'Z'")
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC)


def _parse_value(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"value {text!r} is not finite")
    return value


def _parse_label(text: str) -> int:
    if text == "0":
        return 0
    if text == "1":
        return 1
    raise ValueError(f"label {text!r} is not 0 or 1")


def load_series(path: Path, kind: str) -> LabelledSeries:
    """Read one ``timestamp,value,label`` CSV file; the series is named after the file stem."""
    timestamps: list[datetime] = []
    values: list[float] = []
    labels: list[int] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != HEADER:
            raise CorpusFormatError(path, 1, f"header is {header}, expected {HEADER}")
        for row in reader:
            line = reader.line_num
            if len(row) != len(HEADER):
                raise CorpusFormatError(path, line, f"{len(row)} fields, expected 3: {row}")
            try:
                moment = _parse_timestamp(row[0])
                value = _parse_value(row[1])
                label = _parse_label(row[2])
            except ValueError as exc:
                raise CorpusFormatError(path, line, str(exc)) from exc
            if timestamps and moment <= timestamps[-1]:
                raise CorpusFormatError(path, line, f"timestamp {row[0]} does not increase")
            timestamps.append(moment)
            values.append(value)
            labels.append(label)
    if not timestamps:
        raise CorpusFormatError(path, 1, "no data rows")
    return LabelledSeries(path.stem, kind, timestamps, values, labels)


def load_corpus(root: Path | None = None) -> list[LabelledSeries]:
    """Every series in ``root/*/*.csv`` (default: the ``data`` folder beside this module).

    ``kind`` is the corpus folder name. Returns ``[]`` when the folder is absent or holds no CSV;
    raises ``CorpusFormatError`` naming the file and line of the first malformed row.
    """
    base = DATA_ROOT if root is None else root
    if not base.is_dir():
        return []
    series: list[LabelledSeries] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.csv")):
            series.append(load_series(path, folder.name))
    return series


def windows(labels: list[int]) -> list[tuple[int, int]]:
    """The ``[start, end)`` index ranges of the runs of consecutive 1s in ``labels``."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, label in enumerate(labels):
        if label == 1:
            if start is None:
                start = i
        elif label == 0:
            if start is not None:
                spans.append((start, i))
                start = None
        else:
            raise ValueError(f"label {label!r} at index {i} is not 0 or 1")
    if start is not None:
        spans.append((start, len(labels)))
    return spans
