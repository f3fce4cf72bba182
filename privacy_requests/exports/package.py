"""The export package: one unencrypted ZIP, written entry by entry into a local file.

Entries are deflated as they are written, so memory holds a few buffers of text, never an
entry; the sha256 and size of each entry are computed on the way, for the manifest. A large
entry (the events) is deflated on a thread of its own while the next rows are read: zlib,
hashlib and file writes release the GIL, so on two cores the compression overlaps the COPY
that feeds it instead of following it.
"""

import hashlib
import json
import zipfile
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from typing import IO

# zlib's default level: the usual trade between size and time. The benchmark compresses its raw
# COPY at the same level.
DEFLATE_LEVEL = 6
# Text is handed to the compressor in blocks of about this many bytes.
WRITE_BLOCK = 256 * 1024
# Blocks a large entry may have waiting for its compressing thread (memory stays bounded).
PENDING_BLOCKS = 4


def json_text(value: object) -> str:
    """Compact JSON, UTF-8 as is (no \\u escapes), for the package's files."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the package writes every moment."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class EntryWriter:
    """An open entry of the package: takes text (or UTF-8 bytes), keeps its sha256 and size.
    With `background`, blocks are hashed and deflated in order on one thread of their own;
    `close` waits for them and raises what failed there."""

    def __init__(self, stream: IO[bytes], *, background: bool = False):
        self._stream = stream
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._sha256 = hashlib.sha256()
        self.size = 0
        self._pool = ThreadPoolExecutor(max_workers=1) if background else None
        self._queued: deque[Future] = deque()

    def write(self, text: str) -> None:
        self.write_bytes(text.encode())

    def write_bytes(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= WRITE_BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        block = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        self.size += len(block)
        if self._pool is None:
            self._store(block)
            return
        while len(self._queued) >= PENDING_BLOCKS:
            self._queued.popleft().result()
        self._queued.append(self._pool.submit(self._store, block))

    def close(self) -> None:
        """Writes what is left and waits for the thread; raises what failed there."""
        try:
            self.flush()
        finally:
            self._drain()

    def _drain(self) -> None:
        if self._pool is None:
            return
        try:
            while self._queued:
                self._queued.popleft().result()
        finally:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _store(self, block: bytes) -> None:
        self._sha256.update(block)
        self._stream.write(block)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class PackageWriter:
    """Writes the ZIP to `target` (a seekable binary file) and remembers each entry's checksum.

    Use as a context manager; open one entry at a time with `entry(name)`.
    """

    def __init__(
        self, target: IO[bytes], *, generated_at: datetime, compresslevel: int = DEFLATE_LEVEL
    ):
        self._zip = zipfile.ZipFile(
            target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._compresslevel = compresslevel
        self._date_time = generated_at.timetuple()[:6]
        self.files: dict[str, dict[str, object]] = {}

    def __enter__(self) -> "PackageWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self._zip.close()

    def entry(self, name: str, *, large: bool = False) -> "_Entry":
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        # zipfile compresses a ZipInfo it is given at this level (None: zlib's default, 6).
        info._compresslevel = self._compresslevel  # type: ignore[attr-defined]
        info.external_attr = 0o644 << 16  # a plain readable file when unzipped
        return _Entry(self, info, large=large)

    def write_text(self, name: str, text: str) -> None:
        with self.entry(name) as writer:
            writer.write(text)

    def write_json_list(self, name: str, records: Iterable[object]) -> int:
        """A JSON array with one record a line, streamed; returns how many records."""
        count = 0
        with self.entry(name) as writer:
            writer.write("[")
            for record in records:
                writer.write(("\n" if count == 0 else ",\n") + json_text(record))
                count += 1
            writer.write("\n]\n" if count else "]\n")
        return count

    def _recorded(self, name: str, writer: EntryWriter) -> None:
        self.files[name] = {"sha256": writer.sha256, "bytes": writer.size}


class _Entry:
    def __init__(self, package: PackageWriter, info: zipfile.ZipInfo, *, large: bool):
        self._package = package
        self._info = info
        self._large = large

    def __enter__(self) -> EntryWriter:
        # force_zip64: an entry may pass 2 GiB, which zipfile must know before writing it.
        self._stream = self._package._zip.open(self._info, "w", force_zip64=self._large)
        self._writer = EntryWriter(self._stream, background=self._large)
        return self._writer

    def __exit__(self, exc_type, *exc_info) -> None:
        try:
            if exc_type is None:
                self._writer.close()
            else:
                with suppress(Exception):  # the error already raised is the one to report
                    self._writer._drain()
        finally:
            self._stream.close()
        if exc_type is None:
            self._package._recorded(self._info.filename, self._writer)
