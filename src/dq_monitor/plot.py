"""FR-013 backtest plot: the series, its expected value, the WARN/FAIL bands and every alert.

matplotlib is an optional dependency (``pip install 'dq-monitor[plot]'``); it is imported only
when a plot is asked for, so the service never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dq_monitor.errors import BacktestError

if TYPE_CHECKING:
    from dq_monitor.backtest import ReplayRow


def require_matplotlib() -> Any:
    """The pyplot module, or a clear error naming the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BacktestError(
            "--plot needs matplotlib: pip install 'dq-monitor[plot]'") from None
    return plt


def _band(rows: Sequence[ReplayRow], attr: str, side: int) -> list[float]:
    nan = float("nan")
    out = []
    for r in rows:
        band = getattr(r, attr)
        out.append(nan if band is None else band[side])
    return out


def plot_backtest(rows: Sequence[ReplayRow], path: str, *, title: str = "") -> None:
    """Write a PNG of the replayed history to ``path``."""
    plt = require_matplotlib()
    xs = [r.ts for r in rows]
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=110)
    ax.fill_between(xs, _band(rows, "fail_band", 0), _band(rows, "fail_band", 1),
                    color="#f4c7c3", label="FAIL band edge", linewidth=0)
    ax.fill_between(xs, _band(rows, "warn_band", 0), _band(rows, "warn_band", 1),
                    color="#fde7b0", label="normal (inside WARN)", linewidth=0)
    ax.plot(xs, [r.value for r in rows], color="#1f3b73", linewidth=0.8, label="value")
    nan = float("nan")
    ax.plot(xs, [nan if r.expected is None else r.expected for r in rows], color="#2e7d32",
            linewidth=0.9, linestyle="--", label="expected")
    for severity, colour in (("WARN", "#e0a000"), ("FAIL", "#c62828")):
        hits = [r for r in rows if r.alert and r.alert_severity == severity]
        if hits:
            ax.scatter([r.ts for r in hits], [r.value for r in hits], s=40, marker="v",
                       color=colour, zorder=5, label=f"{severity} alert ({len(hits)})")
    ax.set_title(title or "backtest")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise BacktestError(f"{path}: cannot write the plot ({exc.strerror})") from None
    finally:
        plt.close(fig)
