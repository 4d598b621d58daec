"""Command line: argument parsing only; each command lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dq_monitor.errors import ConfigError, DqMonitorError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2


def _cmd_validate(args: argparse.Namespace) -> int:
    from dq_monitor.config import load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"dq-monitor: {exc}", file=sys.stderr)
        return EXIT_INVALID
    checks = sum(
        (s.freshness is not None) + (s.completeness is not None) + (s.anomaly is not None)
        + bool(s.thresholds)
        for s in config.sources
    )
    print(
        f"{args.file}: valid ({len(config.sources)} source(s), {checks} check(s), "
        f"{len(config.routing.routes)} route(s), {len(config.channels)} channel(s))"
    )
    return EXIT_OK


def _cmd_schemas(args: argparse.Namespace) -> int:
    from dq_monitor.schemas import write_schemas

    for path in write_schemas(Path(args.dir)):
        print(path)
    return EXIT_OK


def _cmd_seed(args: argparse.Namespace) -> int:
    from dq_monitor.seed import main as seed_main

    return int(seed_main(args))


def _cmd_backtest(args: argparse.Namespace) -> int:
    from dq_monitor.backtest import main as backtest_main

    return int(backtest_main(args))


def _cmd_run(args: argparse.Namespace) -> int:
    from dq_monitor.app import main as run_main

    return int(run_main(args))


def _cmd_demo(args: argparse.Namespace) -> int:
    from dq_monitor.demo import main as demo_main

    return int(demo_main(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dq-monitor", description="Real-time data-quality monitor for Kafka pipelines."
    )
    from dq_monitor import __version__

    parser.add_argument("--version", action="version", version=f"dq-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate a config file (exit 0 valid, 2 invalid)")
    p.add_argument("file")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("run", help="run the monitor (and, by default, the alert router)")
    p.add_argument("--config", required=True)
    p.add_argument("--no-router", action="store_true", help="do not start the in-process router")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_cmd_run, router_only=False)

    p = sub.add_parser("route", help="run only the alert router (alert topic → channels)")
    p.add_argument("--config", required=True)
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_cmd_run, no_router=False, router_only=True)

    p = sub.add_parser("backtest", help="replay a timestamp,value CSV through the anomaly check")
    p.add_argument("--config", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--metric", required=True)
    p.add_argument("input", metavar="INPUT.csv")
    p.add_argument("--output", required=True, metavar="OUT.csv")
    p.add_argument("--tags", default="", help="series tags as k=v,k2=v2 (default none)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also draw the series, expected value, WARN/FAIL bands and alerts")
    p.add_argument("--sweep", action="store_true",
                   help="also print the alert count at sensitivity low, medium and high")
    p.set_defaults(func=_cmd_backtest)

    p = sub.add_parser("seed", help="learn a series' baseline from its history and write it "
                                    "to the changelog, where the live monitor restores it")
    p.add_argument("--config", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--metric", required=True)
    p.add_argument("history", metavar="HISTORY",
                   help="a timestamp,value CSV, or a directory of them (read in name order)")
    p.add_argument("--tags", default="", help="series tags as k=v,k2=v2 (default none)")
    p.add_argument("--force", action="store_true",
                   help="replace state the live monitor wrote after the history's last value")
    p.set_defaults(func=_cmd_seed)

    p = sub.add_parser("demo", help="embedded broker, synthetic incidents, live alerts")
    p.add_argument("--duration", type=float, default=45.0, help="seconds of traffic (default 45)")
    p.add_argument("--bootstrap", default=None, help="use this broker instead of an embedded one")
    p.set_defaults(func=_cmd_demo)

    from dq_monitor.oncall import add_parsers

    add_parsers(sub)

    p = sub.add_parser("schemas", help="write the JSON Schemas of events, alerts and config")
    p.add_argument("--dir", default="schemas")
    p.set_defaults(func=_cmd_schemas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except DqMonitorError as exc:
        print(f"dq-monitor: {exc}", file=sys.stderr)
        return EXIT_INVALID if isinstance(exc, ConfigError) else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
