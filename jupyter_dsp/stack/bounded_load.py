"""Reading uploaded YAML and JSON within bounds on what they EXPAND to.

An alias (``*a``) stands for the whole node its anchor (``&a``) names, so a few kilobytes of
nested aliases stand for gigabytes once a reader walks them (every reader after PyYAML does:
protobuf's ``ParseDict``, ``MessageToDict``, ``json.dumps``). The composer here counts, as it
composes, every node and every scalar character, an alias counted by the size of what it
points to; past :data:`MAX_NODES` nodes, or past :data:`MAX_ALIAS_NODES` nodes /
:data:`MAX_ALIAS_CHARS` characters added by aliases, it stops with :class:`TooLarge` before
anything is expanded (the stack answers 413). Compiled pipelines use no alias and far fewer
nodes.

Text that can hold no anchor, and whose node count cannot reach the limit (counted cheaply
from the characters that start a node), is read by libyaml when it is there (10x faster).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_NODES = 1_000_000
MAX_ALIAS_NODES = 100_000
MAX_ALIAS_CHARS = 4 * 1024 * 1024

_MAYBE_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s\[\]{},&]")
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


class TooLarge(Exception):
    """The document expands past the bounds (a 413 for the caller)."""


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts the expanded document and stops past the bounds."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.nodes = 0
        self.alias_nodes = 0
        self.alias_chars = 0
        self.sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, characters)
        self.chars = 0

    def compose_document(self) -> Any:
        self.sizes = {}
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            nodes, chars = self.sizes.get(str(anchor), (1, 0))
            self.alias_nodes += nodes
            self.alias_chars += chars
            self._count(nodes, chars)
            return node
        before_nodes, before_chars = self.nodes, self.chars
        node = super().compose_node(parent, index)
        self._count(1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        if anchor is not None:
            self.sizes[str(anchor)] = (self.nodes - before_nodes, self.chars - before_chars)
        return node

    def _count(self, nodes: int, chars: int) -> None:
        self.nodes += nodes
        self.chars += chars
        if self.nodes > MAX_NODES:
            raise TooLarge(f"the document expands to more than {MAX_NODES} nodes")
        if self.alias_nodes > MAX_ALIAS_NODES or self.alias_chars > MAX_ALIAS_CHARS:
            raise TooLarge(
                f"its YAML aliases expand to more than {MAX_ALIAS_NODES} nodes or "
                f"{MAX_ALIAS_CHARS} characters"
            )


def node_bound(text: str) -> int:
    """An upper bound on the nodes of a YAML or JSON text without aliases: every node but the
    first starts after one of these characters."""
    return 1 + sum(text.count(c) for c in "[{,:-?\n")


def loader_for(text: str) -> Any:
    if _FAST_LOADER is None or _MAYBE_ANCHOR.search(text) or node_bound(text) > MAX_NODES:
        return BoundedLoader
    return _FAST_LOADER


def load_documents(text: str) -> list[Any]:
    """Every non-empty document of ``text``. Raises :class:`TooLarge`, ``yaml.YAMLError``."""
    loader = loader_for(text)
    return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]  # noqa: S506


def check_json_nodes(raw: bytes) -> None:
    """Raise :class:`TooLarge` for a JSON text of more than :data:`MAX_NODES` nodes (counted
    before parsing, strings skipped only when a quick count is over)."""
    quick = 1 + sum(raw.count(c) for c in (b"[", b"{", b",", b":"))
    if quick <= MAX_NODES:
        return
    bare = _JSON_STRING.sub(b'""', raw)
    if 1 + sum(bare.count(c) for c in (b"[", b"{", b",", b":")) > MAX_NODES:
        raise TooLarge(f"the JSON body has more than {MAX_NODES} nodes")
