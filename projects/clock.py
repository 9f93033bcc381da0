"""Time, always in UTC: the one place the platform reads the clock and turns text into moments.

Registry tags, report names and the inference log all carry UTC times; a naive time (no offset) means UTC.
"""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso_now() -> str:
    """Now as an ISO-8601 string to the second, the form registry tags carry."""
    return utc_now().isoformat(timespec="seconds")


def as_utc(moment: dt.datetime) -> dt.datetime:
    """The same moment in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def parse_utc(text: str | None) -> dt.datetime | None:
    """An ISO-8601 time in UTC, or None for no text; raises ValueError on text that is not a time."""
    return as_utc(dt.datetime.fromisoformat(text)) if text else None


def readable(text: str | None) -> str:
    """An ISO-8601 time as a person reads it on a page (to the second, UTC); any other text as it is."""
    try:
        moment = parse_utc(text)
    except (TypeError, ValueError):
        return str(text or "")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def file_stamp(moment: dt.datetime) -> str:
    """A compact sortable UTC stamp for file names: 20260115T093000Z."""
    return as_utc(moment).strftime("%Y%m%dT%H%M%SZ")
