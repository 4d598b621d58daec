"""The configuration file's YAML, parsed once (NFR-003: a file of 10,000 sources loads in about
a second, where composing it for the duplicate-key check and loading it again took over ten).

``read_document`` composes the node tree with libyaml where PyYAML has it, builds the Python
values from that tree, and reports keys given twice from the same tree (walked for them only
when a mapping came out with fewer keys than it was given). Plain documents (maps,
lists and scalars of the standard tags, no ``<<`` merge, no anchor used twice) are built by one
walk that gives exactly what ``yaml.safe_load`` gives; anything else falls back to PyYAML's own
constructor on the same tree. Scalar tags are resolved once per distinct text: a large file
repeats the same keys and values thousands of times.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dq_monitor.config.base import path_str

#: libyaml's safe loader where PyYAML was built with it (a file of 1,000 sources parses about
#: ten times faster, which a reload of a large file feels), else the pure-Python one.
_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
#: Scalar tags built by PyYAML's safe constructor functions, called node by node here.
_SCALARS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float"))


class _Loader(_BASE):  # type: ignore[misc]
    """The safe loader, with the implicit tag of each distinct scalar text resolved once."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._resolved: dict[tuple[str, Any], str] = {}

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag


class _NotPlain(Exception):
    """The tree uses something the plain walk does not build (merge, alias, other tags)."""


def duplicate_keys(node: Node, loc: tuple[str | int, ...] = ()) -> Iterator[str]:
    """Keys given twice in one mapping: YAML would silently keep the last one."""
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is None or key == "<<":
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                yield (f"{path_str((*loc, key))}: duplicate key (lines {seen[key]} and {line}); "
                       "give each key once")
            else:
                seen[key] = line
            if not isinstance(value_node, ScalarNode):
                yield from duplicate_keys(value_node, (*loc, key))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            if not isinstance(item, ScalarNode):
                yield from duplicate_keys(item, (*loc, i))


class _Builder:
    """Python values of a plain node tree, as ``SafeConstructor`` builds them."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.seen: set[int] = set()
        #: A mapping came out with fewer keys than it was given: some key may be given twice
        #: (or two spellings of one value, such as ``1`` and ``01``), so look for duplicates.
        self.collapsed = False

    def build(self, node: Node) -> Any:
        tag = node.tag
        if node.__class__ is ScalarNode:
            if tag == _STR:
                return node.value
            if tag in _SCALARS:
                return self.loader.yaml_constructors[tag](self.loader, node)
            raise _NotPlain
        if id(node) in self.seen:  # an alias: PyYAML shares the object (or recurses)
            raise _NotPlain
        self.seen.add(id(node))
        if node.__class__ is MappingNode and tag == _MAP:
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.__class__ is not ScalarNode or key_node.tag == _MERGE:
                    raise _NotPlain
                out[self.build(key_node)] = self.build(value_node)
            if len(out) != len(node.value):
                self.collapsed = True
            return out
        if node.__class__ is SequenceNode and tag == _SEQ:
            return [self.build(item) for item in node.value]
        raise _NotPlain


def read_document(text: str) -> tuple[Any, list[str]]:
    """The YAML document's value (None when empty) and its duplicate-key errors.

    Raises ``yaml.YAMLError`` as PyYAML does. The collector is paused meanwhile: the tree and
    the values are hundreds of thousands of objects without cycles, which it would otherwise
    walk again and again while they are made.
    """
    frozen = gc.isenabled()
    gc.disable()
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None, []
            builder = _Builder(loader)
            try:
                value = builder.build(root)
            except _NotPlain:
                duplicates = list(duplicate_keys(root))  # before the constructor merges keys
                return loader.construct_document(root), duplicates
            # a walk of its own only when a mapping lost keys (NFR-001: most files have none)
            return value, list(duplicate_keys(root)) if builder.collapsed else []
        finally:
            loader.dispose()
    finally:
        if frozen:
            gc.enable()
