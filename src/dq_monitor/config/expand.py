"""``${VAR}`` / ``${VAR:-default}`` expansion (FR-011): secrets come from the environment, and a
variable that is neither set nor defaulted is an error at its path in the file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dq_monitor.config.base import path_str

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(
    node: Any, env: Mapping[str, str], errors: list[str], loc: tuple[Any, ...] = ()
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(node, dict):
        return {k: expand_env(v, env, errors, (*loc, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, env, errors, (*loc, i)) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(
            f"{path_str(loc)}: environment variable {name} is not set and has no default"
        )
        return ""

    return _VAR.sub(repl, node)
