"""Helpers for testing dq-monitor, and your own channel or pipeline against it.

Local receivers that speak the real protocols (an HTTP receiver, an SMTP server), alerts as
the monitor writes them, a clock to move by hand, a channel that records, and waiting on a
condition. The SMTP server needs ``aiosmtpd`` (in the ``test`` extra).
"""

from __future__ import annotations

from dq_monitor.testing.alerts import make_alert
from dq_monitor.testing.channel import RecordingChannel
from dq_monitor.testing.clock import FakeClock
from dq_monitor.testing.http import HttpReceiver, Reply, Request
from dq_monitor.testing.smtp import Certificate, SmtpServer, self_signed_certificate, smtp_server
from dq_monitor.testing.wait import eventually, run_until

__all__ = [
    "Certificate",
    "FakeClock",
    "HttpReceiver",
    "RecordingChannel",
    "Reply",
    "Request",
    "SmtpServer",
    "eventually",
    "make_alert",
    "run_until",
    "self_signed_certificate",
    "smtp_server",
]
