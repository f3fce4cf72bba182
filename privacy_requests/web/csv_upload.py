"""Uploaded CSVs of distinct_ids (DESIGN section 9).

At most 5 MiB, UTF-8 with or without a BOM, read into memory and never written anywhere. The
form's page decides who may post from the session before it reads a byte of the body; then
`csv_upload_parse` reads a body of at most MAX_UPLOAD_BYTES (5 MiB and a small allowance for the
form's fields), with a handler that takes the one `csv_file` part and keeps at most 5 MiB of it,
so neither a large upload nor many file parts fill the disk or the memory.

One column of ids, or a header row with a `distinct_id` column; comma, semicolon or tab. Ids are
kept verbatim, spaces at either end included, as the API keeps them (issue 15: a trimmed
" padded " names another end user); lines whose cells are all blank (empty or spaces) are
ignored; duplicates collapsed, first seen first; at most 2,000 unique ids. Anything else is a
`CsvError` that names the line, and the caller saves nothing.
"""

import csv
import io
import re
from dataclasses import dataclass
from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from privacy_requests.services.submission import MAX_DISTINCT_ID_LENGTH, MAX_DISTINCT_IDS

MAX_CSV_BYTES = 5 * 1024 * 1024
# The whole body of the form: the CSV, its part's headers and the few small fields around it.
MAX_UPLOAD_BYTES = MAX_CSV_BYTES + 64 * 1024
DISCARD_CHUNK_BYTES = 64 * 1024
CSV_FIELD = "csv_file"
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
HEADER = "distinct_id"
UTF8_BOM = b"\xef\xbb\xbf"
LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class CsvError(ValueError):
    """A file that cannot be used; `line` is 1-based, or None when no line is at fault."""

    def __init__(self, message: str, *, line: int | None):
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:
        text = super().__str__()
        return f"Line {self.line:,}: {text}" if self.line is not None else text


@dataclass(frozen=True)
class ParsedIds:
    distinct_ids: list[str]
    rows: int  # lines that held an id, duplicates included
    has_header: bool
    delimiter: str | None

    @property
    def duplicates(self) -> int:
        return self.rows - len(self.distinct_ids)


class TooLargeUpload(InMemoryUploadedFile):
    """What the form sees of an upload past the limit: its size, none of its content."""


class UploadRefused(MultiPartParserError):
    """A body the CSV form does not take (another file part, a second file)."""


@dataclass(frozen=True)
class UploadRefusal:
    """Why a POST of the CSV form was answered without reading it as a form."""

    status: HTTPStatus
    message: str


class CsvUploadHandler(FileUploadHandler):
    """Keeps the one `csv_file` part in memory, never on disk, and drops everything past
    MAX_CSV_BYTES; any other file part refuses the whole body."""

    def __init__(self, request: HttpRequest):
        super().__init__(request)
        self.buffer = io.BytesIO()
        self.size = 0
        self.started = False

    def new_file(self, field_name: str, *args, **kwargs) -> None:
        if field_name != CSV_FIELD or self.started:
            raise UploadRefused(
                f"This form takes one file, in the “{CSV_FIELD}” field: the upload holds "
                "another one. Nothing was submitted."
            )
        super().new_file(field_name, *args, **kwargs)
        self.started = True

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size <= MAX_CSV_BYTES:
            self.buffer.write(raw_data)
        return None  # no later handler (in particular no temporary file) gets the data

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        too_large = self.size > MAX_CSV_BYTES
        if too_large:
            self.buffer = io.BytesIO()
        self.buffer.seek(0)
        file_class = TooLargeUpload if too_large else InMemoryUploadedFile
        return file_class(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self.size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def _content_length(request: HttpRequest) -> int:
    # As Django reads it: a missing or broken header is a body of 0 bytes.
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def csv_upload_parse(request: HttpRequest) -> UploadRefusal | None:
    """Parses a POST of the CSV form within its limits, or says why it will not: a body over
    MAX_UPLOAD_BYTES is not read at all (413); another file part, or a body Django cannot
    parse, is a 400. Call it once the session has shown who may post, and before anything
    reads request.POST."""
    length = _content_length(request)
    if length > MAX_UPLOAD_BYTES:
        return UploadRefusal(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The upload is {_mib(length)}; a CSV file may be at most 5 MiB. Split it into "
            "smaller files. Nothing was submitted.",
        )
    request.upload_handlers = [CsvUploadHandler(request)]
    try:
        request.POST  # noqa: B018 (parsing is the point)
    except UploadRefused as exc:
        return UploadRefusal(HTTPStatus.BAD_REQUEST, str(exc))
    except RequestDataTooBig:
        return UploadRefusal(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "The form fields are too large to be read. Nothing was submitted.",
        )
    except (MultiPartParserError, SuspiciousOperation) as exc:
        return UploadRefusal(
            HTTPStatus.BAD_REQUEST,
            f"The form could not be read ({exc}). Nothing was submitted.",
        )
    return None


def csv_upload_discard(request: HttpRequest) -> None:
    """Drops the body of a refused POST. One of at most MAX_UPLOAD_BYTES is read in small
    chunks and dropped, so that a browser sees the answer (the sign-in page, an error) rather
    than a connection reset; a larger one is left unread, and the server closes the
    connection. Either way the form data is marked absent, as Django marks a body it refuses:
    nothing answering later parses it (Django's 404 page checks a CSRF token, which would)."""
    if _content_length(request) <= MAX_UPLOAD_BYTES:
        try:
            while request.read(DISCARD_CHUNK_BYTES):
                pass
        except UnreadablePostError:
            pass  # the client went away: nothing to answer
    request._mark_post_parse_error()  # type: ignore[attr-defined]  # Django's own, since 1.x


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _line_of_offset(data: bytes, offset: int) -> int:
    return len(LINE_BREAK.findall(data, 0, offset)) + 1


def _decode(data: bytes) -> str:
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    nul = data.find(b"\x00")
    if nul != -1:
        raise CsvError(
            "this is not a CSV file (it holds binary data, as a spreadsheet or an archive "
            "does). Export the sheet as CSV (UTF-8) and upload that.",
            line=_line_of_offset(data, nul),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvError(
            f"this is not UTF-8 text (byte 0x{data[exc.start]:02X}). Save the file as "
            "“CSV UTF-8” and upload it again.",
            line=_line_of_offset(data, exc.start),
        ) from exc


def _rows(text: str, delimiter: str):
    """(line number where the row ends, cells verbatim) for each row; csv errors name the
    line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        line = reader.line_num + 1  # where the next row starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise CsvError(
                    f"a cell is longer than {MAX_DISTINCT_ID_LENGTH} characters, the longest "
                    "a distinct_id can be.",
                    line=line,
                ) from exc
            if "unexpected end of data" in str(exc):
                raise CsvError("a quoted cell starts here and is never closed.", line=line) from exc
            raise CsvError(f"this is not valid CSV ({exc}).", line=line) from exc
        yield reader.line_num, row


def _is_blank_cell(cell: str) -> bool:
    return not cell.strip()


def _is_blank(cells: list[str]) -> bool:
    return all(_is_blank_cell(cell) for cell in cells)


def _first_row(text: str, delimiter: str) -> tuple[int, list[str]] | None:
    for line, cells in _rows(text, delimiter):
        if not _is_blank(cells):
            return line, cells
    return None


def _layout(text: str) -> tuple[str | None, int | None]:
    """(delimiter, index of the distinct_id column) from the first non-blank row, or
    (None, None) for a file of one column without a header."""
    for delimiter in DELIMITERS:
        first = _first_row(text, delimiter)
        if first is None:
            return None, None
        _, cells = first
        names = [cell.strip().lower() for cell in cells]
        if HEADER in names:
            return delimiter, names.index(HEADER)
    # No header: each row must be one cell, whichever delimiter one reads it with.
    for delimiter, name in DELIMITERS.items():
        for line, cells in _rows(text, delimiter):
            if len(cells) > 1 and not _is_blank(cells):
                raise CsvError(
                    f"this row has more than one column (separated by a {name}). Upload one "
                    f"column of ids, or name the id column “{HEADER}” in a header row.",
                    line=line,
                )
    return None, None


def distinct_ids_parse_csv(data: bytes) -> ParsedIds:
    """The unique ids of an uploaded CSV, first seen first; raises CsvError."""
    if len(data) > MAX_CSV_BYTES:
        raise CsvError(
            f"The file is {_mib(len(data))}; the limit is 5 MiB. Split it into files of at most "
            f"{MAX_DISTINCT_IDS:,} ids.",
            line=None,
        )
    text = _decode(data)
    if not text.strip():
        raise CsvError("the file is empty: it holds no distinct_ids.", line=1)
    delimiter, column = _layout(text)
    unique: dict[str, None] = {}
    rows = 0
    header_seen = column is None
    for line, cells in _rows(text, delimiter or ","):
        if _is_blank(cells):
            continue
        if not header_seen:
            header_seen = True  # the header row itself
            continue
        if column is None:
            value = cells[0]
        elif column >= len(cells) or _is_blank_cell(cells[column]):
            raise CsvError(f"the {HEADER} cell (column {column + 1}) is empty.", line=line)
        else:
            value = cells[column]
        if len(value) > MAX_DISTINCT_ID_LENGTH:
            raise CsvError(
                f"the id is {len(value):,} characters long; a distinct_id has at most "
                f"{MAX_DISTINCT_ID_LENGTH}.",
                line=line,
            )
        rows += 1
        if value not in unique:
            if len(unique) == MAX_DISTINCT_IDS:
                raise CsvError(
                    f"this is unique id number {MAX_DISTINCT_IDS + 1:,}; a request holds at "
                    f"most {MAX_DISTINCT_IDS:,}. Split the file.",
                    line=line,
                )
            unique[value] = None
    if not unique:
        if column is None:
            raise CsvError("the file is empty: every line is blank.", line=1)
        raise CsvError(
            f"the file is empty: there are no ids under the “{HEADER}” header.",
            line=_line_after(text),
        )
    return ParsedIds(
        distinct_ids=list(unique), rows=rows, has_header=column is not None, delimiter=delimiter
    )


def _line_after(text: str) -> int:
    """The line after the last non-blank one: where the missing ids should have been."""
    return len(text.rstrip().splitlines()) + 1
