"""Room on the database's disk, checked before a run writes anything."""

import math
import shutil
from pathlib import Path

from django.db import connection

from projects.generation.plan import NotEnoughDisk

# Measured on PostgreSQL 15 after 10 million events: 539 B an event (heap 362, dedupe index 154,
# primary key 22), about 500 B a user (profile and links). The margin covers WAL and bloat.
BYTES_PER_EVENT = 550
BYTES_PER_USER = 500
DISK_MARGIN = 1.25


def generation_estimate_bytes(*, users: int, events: int) -> int:
    return math.ceil((events * BYTES_PER_EVENT + users * BYTES_PER_USER) * DISK_MARGIN)


def database_free_bytes() -> tuple[int, str]:
    """Free bytes where the database keeps its files, and that place.

    PostgreSQL tells its data directory only to superusers and members of pg_read_all_settings,
    and the directory may be on another host; then the current directory's filesystem stands in.
    """
    place: Path | None = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') "
                "THEN current_setting('data_directory') END"
            )
            data_directory = cursor.fetchone()[0]
        if data_directory and Path(data_directory).is_dir():
            place = Path(data_directory)
    elif connection.vendor == "sqlite":
        name = str(connection.settings_dict.get("NAME") or "")
        if name and not name.startswith("file:") and name != ":memory:":
            place = Path(name).resolve().parent
    if place is None:
        place = Path.cwd()
    return shutil.disk_usage(place).free, str(place)


def disk_check(*, users: int, events: int, free_bytes: int | None = None) -> None:
    needed = generation_estimate_bytes(users=users, events=events)
    if free_bytes is None:
        free_bytes, place = database_free_bytes()
        where = f"at {place}"
    else:
        where = "(figure given)"
    if needed > free_bytes:
        raise NotEnoughDisk(
            f"Not enough free disk space: {events:,} events for {users:,} users need about "
            f"{_size(needed)}, and only {_size(free_bytes)} is free {where}."
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
