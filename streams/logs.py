"""Keep the worker's log readable when a library repeats itself.

While no broker answers, aiokafka logs the same few errors (cannot connect, cannot update
metadata, fetch failed, coordinator request failed) dozens to thousands of times a second, and
aiohttp's server logs a full traceback at ERROR for every request its HTTP parser rejects, so
any client can fill the log. `RepeatFilter` lets the first record of a kind through and then at
most one every few seconds, saying how many it stood for; `ParserErrorFilter` cuts a parser
error down to one line. `install` puts both on the `aiokafka` and `aiohttp` loggers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["INTERVAL", "NOISY", "ParserErrorFilter", "RepeatFilter", "install"]

#: seconds between two records of the same kind that get through
INTERVAL: Final = 10.0
#: the loggers (with their descendants) `install` quiets
NOISY: Final = ("aiokafka", "aiohttp")
#: most characters of a rejected request's description kept in the log line
MAX_DETAIL: Final = 300

_Kind = tuple[str, int, str]  # logger name, level, message template


@dataclass(slots=True)
class _Seen:
    shown: float  # clock time the last record of this kind got through
    suppressed: int = 0  # records of this kind dropped since


class RepeatFilter(logging.Filter):
    """Lets the first record of a kind (same logger, level and message template, whatever the
    arguments) through, then at most one every `interval` seconds, with the number of records
    dropped since the previous one appended: "... (and 812 more like this in the last 10 s)".

    Dropped records are counted only; the count shows on the next record of the kind that gets
    through, so a burst that stops for good is not summed up. `clock` gives seconds (monotonic);
    at most `max_kinds` kinds are remembered, the least recently shown forgotten first.
    """

    def __init__(
        self,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 1024,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.max_kinds = max_kinds
        self._seen: dict[_Kind, _Seen] = {}
        self._lock = threading.Lock()  # the consumer's aiokafka runs in a thread of its own

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        with self._lock:
            now = self.clock()
            seen = self._seen.get(kind)
            if seen is not None and now - seen.shown < self.interval:
                seen.suppressed += 1
                return False
            if seen is not None:
                del self._seen[kind]  # re-inserted last: the dict stays in order of showing
            self._seen[kind] = _Seen(shown=now)
            while len(self._seen) > self.max_kinds:
                del self._seen[next(iter(self._seen))]
        if seen is not None and seen.suppressed:
            _append(
                record,
                f" (and {seen.suppressed} more like this in the last {now - seen.shown:.0f} s)",
            )
        return True


class ParserErrorFilter(logging.Filter):
    """A request aiohttp's HTTP parser rejected (a line or header too long, bytes that are not
    HTTP) is the client's mistake: log it as one line, without the traceback aiohttp adds."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            detail = " ".join(f"{type(exc).__name__} ({exc.code}): {exc.message}".split())
            detail = "".join(c if c.isprintable() else "?" for c in detail)
            if len(detail) > MAX_DETAIL:
                detail = detail[: MAX_DETAIL - 3] + "..."
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            # still a template, so that `RepeatFilter` takes them all as one kind
            if isinstance(record.args, tuple) and record.args:
                record.msg, record.args = f"{record.msg}: %s", (*record.args, detail)
            else:
                _append(record, f": {detail}")
        return True


def _append(record: logging.LogRecord, text: str) -> None:
    """Add `text` to the record's message (formatted now, so `%` in it is never a placeholder)."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the template: leave the record as it is
        return
    record.msg, record.args = message + text, ()  # (mode's formatter takes None for an argument)


def install(
    names: Iterable[str] = NOISY, interval: float = INTERVAL
) -> tuple[ParserErrorFilter, RepeatFilter]:
    """Put one `ParserErrorFilter` and one `RepeatFilter` on each named logger and on every
    descendant of it that exists now; returns the two filters.

    On the loggers themselves, not on handlers: they stay when Faust's worker replaces the
    handlers as it sets up logging. A logger's filters see only the records logged on it, not
    those of its descendants (`aiokafka.conn`, `aiohttp.server`), hence the descendants too; a
    library creates its loggers as it is imported, so call this once it is. Loggers that
    already have the filters are left alone.
    """
    parser_errors, repeats = ParserErrorFilter(), RepeatFilter(interval)
    prefixes = tuple(names)
    existing = [
        logger
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and name.startswith(tuple(p + "." for p in prefixes))
    ]
    for logger in [logging.getLogger(name) for name in prefixes] + existing:
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(parser_errors)  # first: the repeat filter sees the one-line form
            logger.addFilter(repeats)
    return parser_errors, repeats
