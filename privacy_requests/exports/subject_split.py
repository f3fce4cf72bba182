"""One package per subject, made in the same pass as the whole archive (issue 17).

While the whole archive is written, every event line and record is also appended, once and
uncompressed, to a local side file, and the side file remembers which stretches belong to which
subject. Each subject's package is then written from its own stretches: no second read of the
database, and memory holds one subject's profiles and identities at most, never its events.

A record that names two people (an identity link or link request between two subjects) is in
neither's package: a package for one person never holds another person's data.
"""

import codecs
import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import IO, Protocol

from privacy_requests.exports.package import json_text
from privacy_requests.exports.subject_groups import SubjectGroups

_DISTINCT_ID_KEY = ',"distinct_id":'
_decoder = json.JSONDecoder()
READ_BLOCK = 256 * 1024


def line_distinct_id(line: str) -> str:
    """The distinct_id of an events.jsonl line. The event name before it is a JSON string, in
    which every quote is escaped, so the first `,"distinct_id":` is the key itself."""
    at = line.index(_DISTINCT_ID_KEY) + len(_DISTINCT_ID_KEY)
    value, _ = _decoder.raw_decode(line, at)
    return value


class SideFile:
    """Texts appended to a local temporary file, each stretch kept under a subject's number."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="privacy-subjects-")
        self._offset = 0
        self._read = False
        self.parts: dict[int, list[tuple[int, int]]] = defaultdict(list)

    def add(self, number: int, text: str) -> None:
        data = text.encode()
        if self._read:
            self._file.seek(self._offset)
            self._read = False
        self._file.write(data)
        self.parts[number].append((self._offset, len(data)))
        self._offset += len(data)

    def blocks(self, number: int) -> Iterator[bytes]:
        """The subject's bytes, in the order they were added."""
        self._file.flush()
        self._read = True
        for offset, size in self.parts.get(number, ()):
            self._file.seek(offset)
            while size > 0:
                block = self._file.read(min(size, READ_BLOCK))
                size -= len(block)
                yield block

    def texts(self, number: int) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")()
        for block in self.blocks(number):
            yield decoder.decode(block)
        if tail := decoder.decode(b"", final=True):
            yield tail

    def lines(self, number: int) -> Iterator[str]:
        carry = b""
        for block in self.blocks(number):
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry = block[cut:]
            if cut:
                yield from block[:cut].decode().splitlines()
        if carry:
            yield carry.decode()

    def close(self) -> None:
        self._file.close()


class SubjectSplit:
    """Routes what the whole archive writes to each subject's side of it."""

    FILES = ("events", "profiles", "identities", "identity_evidence")

    def __init__(self, groups: SubjectGroups):
        self.groups = groups
        self.sides = {name: SideFile() for name in self.FILES}

    def close(self) -> None:
        for side in self.sides.values():
            side.close()

    def event_lines(self, lines: Iterable[str]) -> Iterator[str]:
        """Passes the lines through, keeping each distinct_id's run (the lines come sorted by
        distinct_id) for its subject."""
        side = self.sides["events"]
        number_of = self.groups.number_of
        current: str | None = None
        number: int | None = None
        pending: list[str] = []
        for line in lines:
            yield line
            distinct_id = line_distinct_id(line)
            if distinct_id != current:
                if pending and number is not None:
                    side.add(number, "".join(pending))
                pending = []
                current = distinct_id
                number = number_of.get(distinct_id)
            pending.append(line)
        if pending and number is not None:
            side.add(number, "".join(pending))

    def event_router(self, out: "LineOut") -> "EventRouter":
        """A line writer that writes each line to `out` and keeps it for its subject, as
        event_lines does for lines pulled; flush() after the chunk."""
        return EventRouter(out=out, side=self.sides["events"], number_of=self.groups.number_of)

    def records(self, name: str, records: Iterable[dict]) -> Iterator[dict]:
        """Passes the records through, keeping each one for the subject it belongs to."""
        side = self.sides[name]
        owner = self.profile_owner if name == "profiles" else self.link_owner
        for record in records:
            yield record
            number = owner(record)
            if number is not None:
                side.add(number, json_text(record) + "\n")

    def profile_owner(self, record: dict) -> int | None:
        return self.groups.number_of.get(record["$distinct_id"])

    def link_owner(self, record: dict) -> int | None:
        return self.groups.same_group(record["distinct_id"], record["canonical_id"])


class LineOut(Protocol):
    def write(self, line: bytes) -> None: ...


class EventRouter:
    """Event lines as they are written (COPY streams them; records.event_lines_write), each
    passed on and kept for its subject. Lines come sorted by distinct_id: one run an id."""

    def __init__(self, *, out: LineOut, side: SideFile, number_of: dict[str, int]):
        self.out = out
        self.side = side
        self.number_of = number_of
        self.current: str | None = None
        self.number: int | None = None
        self.pending: list[str] = []

    def write(self, line: bytes) -> None:
        self.out.write(line)
        text = line.decode()
        distinct_id = line_distinct_id(text)
        if distinct_id != self.current:
            self.flush()
            self.current = distinct_id
            self.number = self.number_of.get(distinct_id)
        self.pending.append(text)

    def flush(self) -> None:
        if self.pending and self.number is not None:
            self.side.add(self.number, "".join(self.pending))
        self.pending = []
