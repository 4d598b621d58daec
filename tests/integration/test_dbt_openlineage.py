"""A real dbt project (dbt-core with dbt-duckdb) run by openlineage-dbt's ``dbt-ol``, its events
written by OpenLineage's Kafka transport to a real broker and judged by the service: a failing
``not_null`` test, its fix, a removed column, and freshness from the model's COMPLETE
(FR-022, FR-023).

dbt and its adapter live in their own virtualenv under ``.cache/`` (made on first use), apart
from this project's environment; under ``CI`` a failed install fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from dq_monitor.events import parse_rfc3339
from tests.integration.conftest import Kafka, config_for, running

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "dbt-ol"
#: dbt-core 1.11 and later download a parser binary at install: kept below it.
REQUIREMENTS = ["dbt-core>=1.8,<1.11", "dbt-duckdb>=1.8,<1.11", "openlineage-dbt>=1.20",
                "openlineage-python[kafka]>=1.20"]
MODEL = "shop.main.customers"


def dbt_ol() -> Path:
    """The ``bin`` folder of a virtualenv holding ``dbt`` and ``dbt-ol`` (made once)."""
    stamp = VENV / ".installed"
    wanted = "\n".join(REQUIREMENTS)
    if stamp.exists() and stamp.read_text() == wanted:
        return VENV / "bin"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *REQUIREMENTS], check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"could not install dbt and dbt-ol: {exc}")
        pytest.skip(f"dbt and dbt-ol could not be installed here: {exc}")
    stamp.write_text(wanted)
    return VENV / "bin"


def write_project(root: Path, *, null_id: bool, with_email: bool) -> None:
    """The dbt project: one model, its columns declared in ``schema.yml``, a not_null test."""
    (root / "models").mkdir(exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nprofile: shop\nmodel-paths: [models]\n")
    (root / "profiles.yml").write_text(f"""
shop:
  target: dev
  outputs:
    dev: {{type: duckdb, path: "{root / 'shop.duckdb'}", schema: main, threads: 1}}
""")
    first = "null" if null_id else "2"
    columns = "id, name, email" if with_email else "id, name"
    rows = ("(1, 'ann', 'ann@example.com'), ({first}, 'bob', 'bob@example.com')" if with_email
            else "(1, 'ann'), ({first}, 'bob')").format(first=first)
    (root / "models" / "customers.sql").write_text(
        f"select * from (values {rows}) as t({columns})\n")
    email = "      - {name: email, data_type: varchar}\n" if with_email else ""
    (root / "models" / "schema.yml").write_text(f"""version: 2
models:
  - name: customers
    columns:
      - name: id
        data_type: integer
        data_tests: [not_null]
      - {{name: name, data_type: varchar}}
{email}""")


def run_dbt_ol(bin_dir: Path, project: Path, openlineage_yml: Path) -> str:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "OPENLINEAGE_CONFIG": str(openlineage_yml), "DO_NOT_TRACK": "1",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([str(bin_dir / "dbt-ol"), "build", "--project-dir", str(project),
                           "--profiles-dir", str(project)], env=env, cwd=project,
                          capture_output=True, text=True, timeout=300, check=False)
    assert "Emitted" in done.stderr + done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def summary(alerts: list[dict[str, Any]]) -> list[tuple[str, str | None, str, str]]:
    return [(a["check"], a["subject"], a["severity"], a["status"]) for a in alerts
            if a["check"] != "run"]


@pytest.mark.req("FR-022", "FR-023")
async def test_a_dbt_project_through_dbt_ol_and_the_kafka_transport(
    kafka: Kafka, tmp_path: Path,
) -> None:
    bin_dir = await anyio.to_thread.run_sync(dbt_ol)
    topic = kafka.topic("openlineage")
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), topic)
    openlineage_yml = tmp_path / "openlineage.yml"
    openlineage_yml.write_text(f"""transport:
  type: kafka
  topic: {topic}
  config:
    bootstrap.servers: "{kafka.bootstrap}"
    acks: all
  flush: true
""")
    project = tmp_path / "shop"
    project.mkdir()
    config = config_for(kafka, f"  - name: {MODEL}\n    freshness: {{max_staleness: 1h}}\n",
                        openlineage=("openlineage",))
    alerts_topic = kafka.topic("alerts")
    async with running(config) as service:
        # 1. The model writes a NULL id: dbt's not_null test fails.
        write_project(project, null_id=True, with_email=True)
        out = await anyio.to_thread.run_sync(run_dbt_ol, bin_dir, project, openlineage_yml)
        assert "FAIL 1 not_null_customers_id" in out
        alerts = await kafka.read(alerts_topic, lambda xs: any(
            a["check"] == "assertion" for a in xs))
        assert summary(alerts) == [("assertion", "not_null_customers_id", "FAIL", "firing")]
        failed = next(a for a in alerts if a["check"] == "assertion")
        assert failed["source"] == MODEL and "not_null_customers_id" in failed["detail"]
        assert (failed["observed"], failed["expected"]) == (1.0, 0.0)
        # Freshness follows the model's COMPLETE eventTime.
        events = [orjson.loads(r.value) for r in await kafka.read_records(
            topic, lambda rs: len(rs) >= 6)]
        complete = [e for e in events if e["eventType"] == "COMPLETE" and e["outputs"]
                    and e["outputs"][0]["name"] == MODEL]
        assert complete, [e["eventType"] for e in events]
        with anyio.fail_after(10):
            while service.monitor.sources.get(MODEL) is None or (
                    service.monitor.sources[MODEL].last_updated is None):
                await anyio.sleep(0.1)
        assert service.monitor.sources[MODEL].last_updated == parse_rfc3339(
            complete[-1]["eventTime"])
        # 2. The data is fixed: the test passes and the assertion resolves.
        write_project(project, null_id=False, with_email=True)
        await anyio.to_thread.run_sync(run_dbt_ol, bin_dir, project, openlineage_yml)
        alerts = await kafka.read(alerts_topic, lambda xs: len(summary(xs)) >= 2)
        assert summary(alerts) == [
            ("assertion", "not_null_customers_id", "FAIL", "firing"),
            ("assertion", "not_null_customers_id", "FAIL", "resolved")]
        # 3. A column is removed from the model: a schema alert names it.
        write_project(project, null_id=False, with_email=False)
        await anyio.to_thread.run_sync(run_dbt_ol, bin_dir, project, openlineage_yml)
        alerts = await kafka.read(alerts_topic, lambda xs: len(summary(xs)) >= 3)
    assert summary(alerts)[2] == ("schema", None, "WARN", "firing")
    schema = next(a for a in alerts if a["check"] == "schema")
    assert schema["detail"] == f"{MODEL} schema changed: removed email"
    runs = [(a["subject"], a["status"]) for a in alerts if a["check"] == "run"]
    # dbt-ol reports the failed test as a FAIL run of the model's test job, resolved by its
    # next COMPLETE.
    assert [s for _, s in runs] == ["firing", "resolved"], runs
    dead = await kafka.read(kafka.topic("dead"), lambda xs: False, timeout=1.0)
    assert dead == []
