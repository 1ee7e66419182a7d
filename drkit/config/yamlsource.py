"""YAML documents that remember where each value came from: file, line and column.

``load_yaml_file(path)`` reads one YAML document into a tree of :class:`Node` objects. Mappings become
``dict[str, Node]``, sequences ``list[Node]``, scalars their Python value (PyYAML's safe rules: ``int``,
``float``, ``bool``, ``None``, ``str``, dates). Every node carries the 1-based line and column of its
value, and a mapping entry also the line of its key, so that a validation error can point at the
offending line.

Stricter than PyYAML's ``safe_load``, because configuration typos should be errors:

- a duplicate key in a mapping is an error (PyYAML silently keeps the last one);
- mapping keys must be strings (``1: x`` or ``[a]: x`` are refused);
- a file holds exactly one document; an empty file (or one with only comments) is an error;
- the merge key ``<<`` is not special: it is an ordinary (and therefore unknown) key;
- anchors and aliases (``&name``, ``*name``) are refused: a configuration file never needs them, and a
  few nested aliases expand into billions of nodes (the "billion laughs" bomb);
- a file is at most :data:`MAX_FILE_BYTES` long, holds at most :data:`MAX_NODES` values (mappings,
  lists and scalars) nested at most :data:`MAX_DEPTH` deep, so that a hostile or broken file is refused
  before it costs memory, time or the interpreter's stack.

Every problem is a :class:`~drkit.errors.ConfigError` naming the file and line.

A :class:`Section` wraps one mapping node of a document's header (``apiVersion``, ``kind``,
``metadata``, ``spec``): it refuses keys it does not know (suggesting the nearest known one) and
names a missing or non-string value, each with a ``ConfigError`` whose ``field`` is the dotted path
and whose ``line`` is the line of the offending value (of the mapping, for a missing key). What is
inside ``spec`` is read through the document models (:mod:`drkit.config.translate`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from drkit.errors import ConfigError

MAX_FILE_BYTES = 1024 * 1024
"""The largest configuration file drkit reads (schedules and restore plans are a few KiB)."""

MAX_NODES = 20_000
"""The most values (mappings, lists, scalars, keys included) one configuration file may hold."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and lists (PyYAML's composer recurses once per level)."""


@dataclass(frozen=True)
class Node:
    """A value from a YAML file and where it is. ``line`` and ``column`` are 1-based."""

    value: object  # dict[str, Node], list[Node], or a scalar
    line: int
    column: int
    key_line: int | None = field(default=None, compare=False)  # the line of the key, for mapping entries

    @property
    def kind(self) -> str:
        """The YAML kind of the value, as said in error messages: mapping, list, string, ..."""
        return kind_of(self.value)

    def plain(self) -> object:
        """The value with every nested Node unwrapped (for tests and round trips)."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def kind_of(value: object) -> str:
    """How a value is named in error messages: ``mapping``, ``list``, ``boolean false``, ``string 'x'``."""
    if isinstance(value, dict):
        shown = "mapping"
    elif isinstance(value, list):
        shown = "list"
    elif value is None:
        shown = "null"
    elif isinstance(value, bool):
        shown = f"boolean {str(value).lower()}"
    elif isinstance(value, int):
        shown = f"integer {value}"
    elif isinstance(value, float):
        shown = f"number {value}"
    elif isinstance(value, str):
        shown = f"string {value!r}"
    else:
        shown = type(value).__name__
    return shown


def load_yaml_file(path: Path) -> Node:
    """Read ``path`` (UTF-8) and return its single YAML document. ``ConfigError`` on any problem."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=str(path)) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a configuration file",
            file=str(path),
            hint="a schedule or restore plan is a few KiB; check that this is the file you meant",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("the file is not UTF-8 text", file=str(path), line=line) from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, file: str) -> Node:
    """Parse ``text`` (named ``file`` in errors) into a :class:`Node` tree."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(
            f"the text is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a configuration file",
            file=file,
        )
    try:
        documents = list(_compose_all(text, file))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        hint = None
        if "alias" in f"{exc.context} {exc.problem}":
            hint = "a value that starts with '*' (a cron expression such as '*/5 * * * *') must be quoted"
        raise ConfigError(
            f"YAML syntax error: {problem}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
            hint=hint,
        ) from None
    except yaml.reader.ReaderError as exc:  # a control character: carries a position, not a mark
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"YAML error: control character {_codepoint(exc.character)} is not allowed", file=file, line=line
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every other PyYAML error is marked
        raise ConfigError(f"YAML error: {exc}", file=file) from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise ConfigError("the file is empty (no YAML document)", file=file)
    if len(documents) > 1:
        second = documents[1]
        raise ConfigError(
            f"the file holds {len(documents)} YAML documents; put each in its own file",
            file=file,
            line=second.start_mark.line + 1,
        )
    return _Converter(file).convert(documents[0], None)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer, refusing anchors and aliases and counting nodes as it builds them."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: YamlNode | None, index: int) -> YamlNode | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            raise ConfigError(
                f"YAML alias *{event.anchor} is not allowed",
                file=self.file,
                line=line,
                hint="write the value out; a value that starts with '*' (a cron expression such as "
                "'*/5 * * * *') must be quoted",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise ConfigError(
                f"YAML anchor &{anchor} is not allowed (configuration files take no anchors or aliases)",
                file=self.file,
                line=line,
                hint="write the value out; a value that starts with '&' must be quoted",
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError(
                f"the file holds more than {MAX_NODES} values, the limit for a configuration file",
                file=self.file,
                line=line,
            )
        if self.depth >= MAX_DEPTH:
            raise ConfigError(
                f"values are nested more than {MAX_DEPTH} levels deep, the limit for a configuration file",
                file=self.file,
                line=line,
            )
        self.depth += 1
        try:
            node: YamlNode | None = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        return node


def _compose_all(text: str, file: str) -> list[YamlNode]:
    loader = _BoundedLoader(text, file)
    try:
        documents: list[YamlNode] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
        return documents
    finally:
        loader.dispose()


def _codepoint(character: object) -> str:
    code = ord(character) if isinstance(character, str) and len(character) == 1 else character
    return f"U+{code:04X}" if isinstance(code, int) else repr(character)


_COLLECTION = {MappingNode: "a mapping", SequenceNode: "a list"}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = SafeConstructor()
        self.active: set[int] = set()  # nodes being converted: an alias cycle would never end

    def convert(self, node: YamlNode, key_line: int | None) -> Node:
        line = node.start_mark.line + 1
        column = node.start_mark.column + 1
        if id(node) in self.active:
            raise ConfigError("a YAML alias refers to itself", file=self.file, line=line)
        if isinstance(node, ScalarNode):
            try:
                value = self.constructor.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, OverflowError) as exc:  # an unknown tag, a bad date
                problem = getattr(exc, "problem", None) or str(exc)
                raise ConfigError(f"invalid value: {problem}", file=self.file, line=line) from None
            return Node(value, line, column, key_line)
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            raise ConfigError(f"unsupported YAML tag {node.tag}", file=self.file, line=line)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return Node([self.convert(item, None) for item in node.value], line, column, key_line)
            if isinstance(node, MappingNode):
                return Node(self._mapping(node), line, column, key_line)
        finally:
            self.active.discard(id(node))
        kind = type(node).__name__  # pragma: no cover
        raise ConfigError(f"unsupported YAML node {kind}", file=self.file, line=line)  # pragma: no cover

    def _mapping(self, node: MappingNode) -> dict[str, Node]:
        result: dict[str, Node] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = self.convert(key_node, None).value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                scalar = isinstance(key_node, ScalarNode)
                shown = kind_of(key) if scalar else _COLLECTION.get(type(key_node), "?")
                raise ConfigError(f"mapping keys must be strings, got {shown}", file=self.file, line=key_line)
            if key in result:
                raise ConfigError(
                    f"duplicate key {key!r} (first given on line {first_line[key]})",
                    file=self.file,
                    line=key_line,
                )
            first_line[key] = key_line
            result[key] = self.convert(value_node, key_line)
        return result


# -- typed reads of mappings -------------------------------------------------------------------

_ENV_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _squash(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def suggest(key: str, known: Sequence[str]) -> str | None:
    """The known key ``key`` most likely meant: same letters in another case/style, else difflib's best."""
    for candidate in known:
        if _squash(candidate) == _squash(key):
            return candidate
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(_squash(key), [_squash(k) for k in known], n=1, cutoff=0.6)
        close = [k for k in known if _squash(k) in close]
    return close[0] if close else None


class Section:
    """One mapping of a configuration file, at ``path`` (``""`` for the document itself)."""

    def __init__(self, node: Node, path: str, file: str, known: Sequence[str], *, hint: str | None = None):
        self.node = node
        self.path = path
        self.file = file
        if not isinstance(node.value, dict):
            raise self.error(node, path, f"expected a mapping, got {node.kind}")
        self.entries: dict[str, Node] = node.value
        for key, value in self.entries.items():
            if key not in known:
                guess = suggest(key, known)
                message = f"unknown field {key!r}"
                if guess:
                    message += f"; did you mean {guess!r}?"
                raise ConfigError(
                    message,
                    file=file,
                    line=value.key_line or value.line,
                    field=self.child(key),
                    hint=hint if guess is None else None,
                )

    # -- plumbing ---------------------------------------------------------------------------------

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, node: Node, field: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=node.line, field=field or None, hint=hint)

    def get(self, key: str) -> Node | None:
        """The node of ``key``; ``None`` when absent or null."""
        node = self.entries.get(key)
        if node is None or node.value is None:
            return None
        return node

    def require(self, key: str) -> Node:
        node = self.entries.get(key)
        if node is None:
            raise ConfigError(  # at the line of the mapping's own key, else where the mapping starts
                "missing required field",
                file=self.file,
                line=self.node.key_line or self.node.line,
                field=self.child(key),
            )
        if node.value is None:
            raise self.error(node, self.child(key), "a value is required, got null")
        return node

    def required_section(self, key: str, known: Sequence[str]) -> Section:
        return Section(self.require(key), self.child(key), self.file, known)

    # -- typed values -----------------------------------------------------------------------------

    def text(self, node: Node, field: str) -> str:
        """A non-empty string. Environment-variable references are refused: nothing is expanded."""
        value = node.value
        if not isinstance(value, str):
            hint = None
            if isinstance(value, bool | int | float):
                hint = "quote the value to make it a string"
            raise self.error(node, field, f"expected a string, got {kind_of(value)}", hint)
        if not value.strip():
            raise self.error(node, field, "expected a non-empty string")
        if _ENV_REFERENCE.search(value):
            raise self.error(
                node,
                field,
                f"{value!r} looks like an environment-variable reference; schedule files are not expanded",
                "write the value itself; keep secrets in files (passwordFile, keyFile)",
            )
        return value


def bare_message(exc: ConfigError) -> str:
    """The message of ``exc`` without the ``field: `` prefix that ConfigError put in front of it."""
    text = exc.message
    prefix = f"{exc.field}: " if exc.field else ""
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def document_sections(
    root: Node,
    file: str,
    *,
    api_version: str,
    kind: str,
    known: Sequence[str],
    metadata: Sequence[str],
    spec: Sequence[str],
    what: str,
    docs: str,
) -> tuple[Section, Section]:
    """The ``metadata`` and ``spec`` sections of a drkit document (``apiVersion``, ``kind``,
    ``metadata``, ``spec``), after its header is checked. A spec field written at the top level is
    named with where it belongs; ``what`` describes the layout, ``docs`` where it is documented."""
    entries = root.value if isinstance(root.value, dict) else {}
    for key, node in entries.items():
        if key in spec:
            raise ConfigError(
                f"{key!r} belongs under spec",
                file=file,
                line=node.key_line,
                field=key,
                hint=f"see {docs} for the layout",
            )
    top = Section(root, "", file, known, hint=what)
    for key, expected in (("apiVersion", api_version), ("kind", kind)):
        node = top.require(key)
        value = top.text(node, key)
        if value != expected:
            raise top.error(node, key, f"expected {expected!r}, got {value!r}")
    return top.required_section("metadata", metadata), top.required_section("spec", spec)
