"""Journal files that a kill or a full disk cut: find the torn record, keep every whole one.

An Optuna journal file is one JSON record per line, appended under a lock. A process killed in
the middle of an append, or an append that meets a full disk, leaves half a line at the end.
Optuna reads past a torn LAST line, so the next run appends after it, and the half line and the
next record become one line that is not JSON: from then on every read of the study fails with a
JSONDecodeError, and every completed trial is unreadable.

:func:`repair_journal` runs before a journal is opened, under the same lock the writers take:

* a file whose lines are all whole JSON records is left alone (the usual case: one read);
* a torn tail (the last line has no newline, or is not JSON) is moved out: the file is cut back
  to its last whole record;
* a torn record that later appends were glued onto is split: the whole record at its end is
  kept in place, the fragment before it is moved out;
* what is moved out is never deleted: it is written, byte for byte, to ``<file>.torn-<n>`` next
  to the journal, and the repair is reported in one line;
* a non-empty file with no whole record at all is not a journal: an error, and nothing is
  changed.

Imports: the standard library, Optuna's journal lock (lazily) and :mod:`sweep.errors`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sweep.errors import SweepError

#: Optuna's journal records start with their operation code
RECORD_START = b'{"op_code"'


def _whole(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def _split(line: bytes) -> tuple[bytes, bytes]:
    """``(fragment, record)``: a line made of a torn record and a whole one glued after it."""
    at = line.rfind(RECORD_START)
    while at > 0:
        if _whole(line[at:]):
            return line[:at], line[at:]
        at = line.rfind(RECORD_START, 0, at)
    return line, b""


def scan(data: bytes) -> tuple[bytes, bytes, int]:
    """``(kept, set_aside, whole_records)`` of a journal's bytes."""
    kept, aside, n = [], [], 0
    for line in data.splitlines(keepends=True):
        if _whole(line):
            kept.append(line)
            n += 1
            continue
        fragment, record = _split(line)
        aside.append(fragment)
        if record:
            kept.append(record)
            n += 1
    return b"".join(kept), b"".join(aside), n


def repair_journal(path: str | Path) -> str | None:
    """Repair the journal at ``path`` (see the module docstring); the one-line report of what
    was done, or None when the file was whole (or absent)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    if data.endswith(b"\n") and all(_whole(x) for x in data.splitlines(keepends=True)):
        return None  # whole: nothing to lock or write
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()  # the writers' own lock: no append can land while we cut
    try:
        data = path.read_bytes()
        kept, aside, n = scan(data)
        if not aside:
            return None  # a writer finished its append meanwhile
        if n == 0:
            raise SweepError(
                f"{path}: not an Optuna journal file (no whole JSON record in "
                f"{len(data)} bytes); name another file"
            )
        k = 1
        while (out := path.with_name(f"{path.name}.torn-{k}")).exists():
            k += 1
        out.write_bytes(aside)
        tmp = path.with_name(f"{path.name}.repair")
        with open(tmp, "wb") as f:
            f.write(kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        lock.release()
    return (
        f"{path}: a journal record was cut (a kill or a full disk); kept {n} whole "
        f"records and moved the {len(aside)} torn bytes to {out.name}"
    )
