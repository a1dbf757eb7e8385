# SPDX-License-Identifier: Apache-2.0
"""Small helpers with no dependencies on the rest of magnum."""

from __future__ import annotations

import datetime
import uuid


def is_uuid_like(value: object) -> bool:
    """True only for a canonical lower-case 8-4-4-4-12 UUID, as Magnum's lookups expect."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def new_uuid() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime.datetime:
    """Naive UTC, as stored in the database (portable across SQLite/PostgreSQL/MariaDB)."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def isotime(value: datetime.datetime | None) -> str | None:
    """Render a stored naive-UTC timestamp the way Magnum does: 2016-03-01T12:00:00+00:00."""
    if value is None:
        return None
    return value.replace(microsecond=0, tzinfo=datetime.UTC).isoformat()
