"""The alert fingerprint: a stable id of (check, source, subject).

It keys the alert topic, the dedup log and the changelog, so it must never change between
processes or releases. The input is encoded unambiguously before hashing — a version tag, then
each field as ``N`` (``None``) or ``S<utf-8 byte length>:<bytes>`` — so ``None`` differs from
``""`` and no choice of names can make two triples collide by shifting a separator. The id is
the first 16 bytes of SHA-256 over that encoding, as 32 lowercase hex digits.
"""

from __future__ import annotations

import hashlib

_VERSION = b"dqfp1"


def _field(value: str | None) -> bytes:
    if value is None:
        return b"N"
    raw = value.encode("utf-8")
    return b"S%d:%s" % (len(raw), raw)


def fingerprint(check: str, source: str, subject: str | None) -> str:
    """Stable 32-hex-digit id of one alerting subject; changing it re-keys every stored alert."""
    encoded = _VERSION + _field(check) + _field(source) + _field(subject)
    return hashlib.sha256(encoded).digest()[:16].hex()
