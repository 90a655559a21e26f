"""Reading a study file's YAML: plain data plus the line of every key path, within limits.

:func:`load_yaml` reads the YAML that PyYAML's ``SafeLoader`` reads (the same scalars: numbers,
booleans, null, strings, timestamps) from the parser's event stream, without recursion, and
refuses with one ``file:line: ...`` :class:`~sweep.schema.errors.SchemaError` (exit status 2):

* a key written twice in one mapping (YAML would silently keep the last one);
* any explicit tag (``!!python/name:os.system``, ``!custom``, ``!!str``): a study file is plain
  data;
* more than :data:`MAX_NODES` values, aliases expanded (a "billion laughs" file of a few hundred
  bytes that would expand to 10^9 values is refused after reading it once);
* nesting deeper than :data:`MAX_DEPTH` (checked as the events arrive, before anything recurses).

Keys are the scalars' text as written (``1:`` is the key ``"1"``). :class:`Source` maps key paths
to lines for every later error about the file.

Imports: the standard library, PyYAML and :mod:`sweep.schema.errors`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweep.schema.errors import SchemaError

#: the most values a file may hold, aliases expanded
MAX_NODES = 100_000
#: the deepest nesting of mappings and lists a file may have
MAX_DEPTH = 64
_STANDARD = "tag:yaml.org,2002:"  # written !!


@dataclass(frozen=True)
class Source:
    """Where a loaded file came from: its path and the line of every key path."""

    path: Path
    lines: Mapping[tuple, int] = field(default_factory=dict)

    def line(self, keys: tuple) -> int:
        """The line of ``keys``, or of its deepest known prefix (1 when none is known)."""
        for n in range(len(keys), -1, -1):
            line = self.lines.get(tuple(keys[:n]))
            if line is not None:
                return line
        return 1

    def first_written(self, *candidates: tuple) -> tuple:
        """The first of ``candidates`` the file wrote (the last one when none was): which form
        a key took, ``sampler: {name: tpe}`` or ``sampler: tpe``."""
        return next((c for c in candidates if c in self.lines), candidates[-1])

    def error(self, keys: tuple, message: str, kind: str = "value") -> SchemaError:
        """A :class:`SchemaError` about ``keys`` (``file:line: key.path: message``)."""
        return SchemaError(str(self.path), self.line(tuple(keys)), tuple(keys), kind, message)


def read_text(path: Path) -> str:
    """The file's text; SchemaError for a missing, unreadable or non-UTF-8 file."""
    if not path.is_file():
        raise SchemaError(str(path), None, (), "file", "no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or str(e)
        raise SchemaError(str(path), 1, (), "file", f"cannot read the file: {why}") from None


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, Source]:
    """The file's data (dicts, lists, scalars) and its :class:`Source`; see the module doc.
    ``text``, when given, is parsed instead of the file (a study's stored snapshot); ``path``
    then only names it in errors."""
    import yaml

    path = Path(path)
    if text is None:
        text = read_text(path)
    reader = _Reader(path)
    try:  # the pure-Python parser: yaml.compose's messages, and no nesting limit of its own
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            reader.feed(event)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SchemaError(str(path), line, (), "yaml", f"invalid YAML: {problem}") from None
    if not reader.documents:
        raise SchemaError(
            str(path), 1, (), "yaml", "the file is empty; see search_spaces/ for examples"
        )
    if reader.duplicates:
        keys, first, line = reader.duplicates[0]
        raise SchemaError(
            str(path),
            line,
            keys,
            "duplicate_key",
            f"duplicate key (first written at line {first}); YAML would keep only "
            "the last one: remove or rename one",
        )
    return reader.root, Source(path, reader.lines)


@dataclass
class _Frame:
    """An open mapping or list: its value, key path, the pending key, anchor bookkeeping."""

    value: Any
    path: tuple
    anchor: str | None
    nodes_at_start: int
    lines_at_start: int
    height: int = 1
    key: str | None = None
    key_line: int = 0


@dataclass
class _Anchor:
    value: Any
    lines: list[tuple[tuple, int]]  # key paths relative to the anchored value
    size: int
    height: int


class _Reader:
    """Builds the data from parser events iteratively (no recursion), counting values."""

    def __init__(self, path: Path) -> None:
        import yaml

        self.yaml, self.path = yaml, str(path)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor | None] = {}  # None: still open
        self.anchor_lines: dict[str, int] = {}
        self.lines: dict[tuple, int] = {}
        self.order: list[tuple[tuple, int]] = []  # every (path, line), for anchors
        self.duplicates: list[tuple[tuple, int, int]] = []
        self.nodes = 0
        self.documents = 0
        self.root: Any = None
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()

    def fail(self, event, message: str, keys: tuple = ()) -> SchemaError:
        return SchemaError(self.path, event.start_mark.line + 1, keys, "yaml", message)

    # ------------------------------------------------------------------ events
    def feed(self, event) -> None:
        y = self.yaml
        if isinstance(event, y.DocumentStartEvent):
            if self.documents:  # what yaml.compose says
                raise self.fail(event, "invalid YAML: but found another document")
            self.documents += 1
        elif isinstance(event, y.AliasEvent):
            self.alias(event)
        elif isinstance(event, y.ScalarEvent):
            self.scalar(event)
        elif isinstance(event, y.SequenceStartEvent | y.MappingStartEvent):
            self.start(event, [] if isinstance(event, y.SequenceStartEvent) else {})
        elif isinstance(event, y.SequenceEndEvent | y.MappingEndEvent):
            self.end()

    def where(self, event) -> tuple | None:
        """The key path of the value this event starts (a mapping key's event: None)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.key is None:
            return None
        return (*top.path, top.key)

    def count(self, event, n: int) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise self.fail(
                event,
                f"more than {MAX_NODES} values (YAML aliases expanded); a "
                "study file is far smaller: write the values out",
            )

    def check_tag(self, event, keys: tuple | None) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None:
            tag = "!!" + tag[len(_STANDARD) :] if tag.startswith(_STANDARD) else tag
            raise self.fail(
                event,
                f"explicit YAML tags are not accepted (found {tag}); a "
                "study file holds plain values",
                keys or (),
            )

    def scalar(self, event) -> None:
        keys = self.where(event)
        self.check_tag(event, keys)
        self.count(event, 1)
        if keys is None:  # a mapping key: its text as written
            top = self.stack[-1]
            top.key, top.key_line = event.value, event.start_mark.line + 1
            if event.anchor is not None:
                self.new_anchor(event)
                self.anchors[event.anchor] = _Anchor(event.value, [], 1, 0)
            return
        node = self.yaml.ScalarNode(
            self.resolver.resolve(self.yaml.ScalarNode, event.value, event.implicit),
            event.value,
            style=event.style,
        )
        value = self.constructor.construct_object(node, deep=True)
        line = event.start_mark.line + 1
        if event.anchor is not None:
            self.new_anchor(event)
            self.anchors[event.anchor] = _Anchor(value, [((), line)], 1, 0)
        self.place(keys, value, line)

    def start(self, event, value: Any) -> None:
        keys = self.where(event)
        if keys is None:
            raise self.fail(
                event, "invalid YAML: a mapping key must be a plain value, not a mapping or a list"
            )
        self.check_tag(event, keys)
        if len(keys) >= MAX_DEPTH:
            raise self.fail(
                event, f"nesting deeper than {MAX_DEPTH} levels; a study file is far flatter"
            )
        self.count(event, 1)
        if event.anchor is not None:
            self.new_anchor(event)
            self.anchors[event.anchor] = None  # open: an alias to it would be recursive
        line = event.start_mark.line + 1
        n_lines = len(self.order)
        self.place(keys, value, line)
        self.stack.append(_Frame(value, keys, event.anchor, self.nodes - 1, n_lines))

    def end(self) -> None:
        frame = self.stack.pop()
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, frame.height + 1)
        if frame.anchor is not None:
            n = len(frame.path)
            rel = [(p[n:], line) for p, line in self.order[frame.lines_at_start :]]
            size = self.nodes - frame.nodes_at_start
            self.anchors[frame.anchor] = _Anchor(frame.value, rel, size, frame.height)

    def new_anchor(self, event) -> None:
        name = event.anchor
        if name in self.anchor_lines:
            raise self.fail(
                event,
                f"invalid YAML: found duplicate anchor '{name}' (first at "
                f"line {self.anchor_lines[name]})",
            )
        self.anchor_lines[name] = event.start_mark.line + 1

    def alias(self, event) -> None:
        keys = self.where(event)
        name = str(event.anchor)
        if name not in self.anchors:
            raise self.fail(event, f"invalid YAML: found undefined alias '{name}'")
        anchor = self.anchors[name]
        if anchor is None:
            raise self.fail(
                event,
                f"invalid YAML: alias '{name}' inside its own anchor (a "
                "structure that contains itself)",
            )
        if keys is None:
            raise self.fail(
                event, "invalid YAML: a mapping key must be a plain value, not an alias"
            )
        self.count(event, anchor.size)
        if len(keys) + anchor.height > MAX_DEPTH:
            raise self.fail(
                event, f"nesting deeper than {MAX_DEPTH} levels; a study file is far flatter"
            )
        line = event.start_mark.line + 1
        self.place(keys, copy.deepcopy(anchor.value), line)
        for rel, ln in anchor.lines:
            if rel:
                self.lines.setdefault((*keys, *rel), ln)
                self.order.append(((*keys, *rel), ln))
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, anchor.height + 1)

    def place(self, keys: tuple, value: Any, line: int) -> None:
        """Put ``value`` at ``keys`` in the open container (or as the root), noting lines."""
        if not self.stack:
            self.root = value
            self.lines.setdefault((), line)
            self.order.append(((), line))
            return
        top = self.stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
            self.lines.setdefault(keys, line)
            self.order.append((keys, line))
            return
        key, key_line = top.key, top.key_line
        if key in top.value:
            self.duplicates.append((keys, self.lines[keys], key_line))
        self.lines[keys] = key_line
        self.order.append((keys, key_line))
        top.value[key] = value
        top.key = None
