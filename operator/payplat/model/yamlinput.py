"""YAML from people and pipelines, read with bounded work into plain JSON values.

``payplat plan`` must survive whatever a file holds: a 3 KB file nested a thousand levels
deep (a ``RecursionError`` in a recursive loader), a 2 KB alias bomb (a billion nodes once
expanded), a 5 MB value, or a syntax error on the line of a Secret's password (PyYAML's
message quotes the line). ``load_documents`` reads a stream the way ``kubectl`` turns it
into JSON for the API server, and refuses, with a line number and never the line's text:

* more than ``MAX_BYTES`` of input, nesting deeper than ``MAX_DEPTH``, or more than
  ``MAX_NODES`` nodes once aliases are expanded;
* tags that have no JSON value (``!!binary``, ``!!set``, ``!!omap``, ``!!timestamp``,
  any ``!custom``), non-string keys, duplicate keys, ``.inf`` and ``.nan``.

Dates stay strings (as in JSON), so ``2026-01-01`` is the text the API server would see.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "YamlInputError", "load_documents"]

MAX_BYTES = 1024 * 1024  # a PaymentPlatform is a few KB; the API server stores at most ~1.5 MB
MAX_DEPTH = 64
MAX_NODES = 100_000

_JSON_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class YamlInputError(ValueError):
    """What is wrong with the stream, with a line number; never the line's content."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with a depth limit and without the YAML 1.1 timestamp resolver."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class attribute, replaced per class as PyYAML does
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
                raise YamlInputError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_documents(text: str) -> list[Any]:
    """Every non-empty document of ``text`` as JSON values (dict, list, str, int, float,
    bool, None). Raises ``YamlInputError`` for anything a bounded, JSON-faithful reading
    cannot give."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YamlInputError(f"{size} bytes is more than the {MAX_BYTES // 1024} KiB a manifest may have")
    documents: list[Any] = []
    try:
        loader = _Loader(text)  # the reader refuses control characters right here
    except yaml.YAMLError as error:
        raise YamlInputError(
            _describe(error)
            if isinstance(error, yaml.MarkedYAMLError)
            else f"not valid YAML: {_short(str(getattr(error, 'reason', '')) or type(error).__name__)}"
            f"{_position(error)}"
        ) from None
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check(node)
            value = _value(node)
            if value is not None:
                documents.append(value)
    except YamlInputError:
        raise
    except yaml.MarkedYAMLError as error:
        raise YamlInputError(_describe(error)) from None
    except yaml.YAMLError as error:
        reason = _short(str(getattr(error, "reason", "")) or type(error).__name__)
        raise YamlInputError(f"not valid YAML: {reason}{_position(error)}") from None
    finally:
        loader.dispose()
    return documents


def _check(root: Node) -> None:
    """Tags, keys and the expanded size, before anything is constructed. Aliases share
    node objects, so sizes are memoised per node: linear in the file, however it expands."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            visiting.discard(key)
            if sizes[key] > MAX_NODES:
                raise YamlInputError(
                    f"line {node.start_mark.line + 1}: more than {MAX_NODES} values once its aliases are expanded"
                )
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise YamlInputError(f"line {node.start_mark.line + 1}: an alias refers to itself")
        visiting.add(key)
        _check_node(node)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_node(node: Node) -> None:
    line = node.start_mark.line + 1
    if node.tag not in _JSON_TAGS and node.tag != "tag:yaml.org,2002:merge":
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise YamlInputError(
            f"line {line}: the YAML tag {tag[:40]} has no JSON value (plain strings, numbers, "
            "booleans, null, maps and lists only)"
        )
    if (
        isinstance(node, ScalarNode)
        and node.tag == "tag:yaml.org,2002:float"
        and node.value.lower().lstrip("+-") in (".inf", ".nan")
    ):
        raise YamlInputError(f"line {line}: {node.value[:10]} is not a JSON number")
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key, ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                raise YamlInputError(f"line {key.start_mark.line + 1}: map keys must be strings")
            if key.value in seen:
                raise YamlInputError(f"line {key.start_mark.line + 1}: duplicate key {_short(key.value)}")
            seen.add(key.value)


def _value(node: Node) -> Any:
    constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
    yaml.constructor.SafeConstructor.__init__(constructor)
    try:
        return constructor.construct_document(node)
    except ConstructorError as error:
        raise YamlInputError(_describe(error)) from None


def _describe(error: yaml.MarkedYAMLError) -> str:
    """``line N, column M: <problem>``: PyYAML's own text quotes the offending line, which
    may be a password; the problem and context alone never do."""
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    what = " ".join(part for part in (error.context, error.problem) if part)
    what = _QUOTED.sub("(...)", what)  # PyYAML quotes tokens: an alias or anchor may be a password
    return f"not valid YAML: {where}{_short(what or 'syntax error', 160)}"


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _position(error: yaml.YAMLError) -> str:
    """Where a reader error is (it has a character position, not a line)."""
    position = getattr(error, "position", None)
    return f" at character {position}" if isinstance(position, int) else ""


def _short(text: str, limit: int = 60) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
