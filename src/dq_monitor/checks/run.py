"""FR-023 ``run``: a pipeline run that ended in FAIL or ABORT alerts on each monitored dataset
it names (its outputs, else its inputs), subject = the job (``namespace/name``); the same job's
next COMPLETE naming the dataset (as an input or an output) resolves it. START, RUNNING and
OTHER change nothing."""

from __future__ import annotations

from dq_monitor.checks.verdict import FAIL, OK, Verdict


def evaluate_run(source: str, job: str, event_type: str, run_id: str) -> Verdict | None:
    """The verdict of one run event on one dataset; None when the event type judges nothing."""
    if event_type in ("FAIL", "ABORT"):
        return Verdict("run", source, job, FAIL, None, None,
                       f"run {run_id} of job {job} ended {event_type} ({source})")
    if event_type == "COMPLETE":
        return Verdict("run", source, job, OK, None, None,
                       f"run {run_id} of job {job} completed ({source})")
    return None
