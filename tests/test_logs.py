"""The log filters: repeats of a record are rate-limited and counted, a parser error is one line.

Time is a fake clock the tests move by hand: nothing sleeps.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from aiohttp.http_exceptions import BadStatusLine, LineTooLong
from mode.utils.logging import ExtensionFormatter, setup_logging

from streams.logs import MAX_DETAIL, NOISY, ParserErrorFilter, RepeatFilter, install


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(
    msg: str = "Unable connect to node with id %s: %s",
    *args: object,
    name: str = "aiokafka",
    level: int = logging.ERROR,
    exc: BaseException | None = None,
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, args or (1, "refused"), exc_info)


def shown(f: logging.Filter, rec: logging.LogRecord) -> str | None:
    """The record's message if the filter lets it through, else None."""
    return rec.getMessage() if f.filter(rec) else None


def test_the_first_record_goes_through_then_one_per_interval_with_a_count() -> None:
    clock = Clock()
    f = RepeatFilter(interval=10.0, clock=clock)
    assert shown(f, record()) == "Unable connect to node with id 1: refused"
    for _ in range(812):
        clock.now += 0.01
        assert shown(f, record()) is None
    clock.now = 1_010.0
    assert shown(f, record("Unable connect to node with id %s: %s", 2, "refused")) == (
        "Unable connect to node with id 2: refused (and 812 more like this in the last 10 s)"
    )
    clock.now += 5
    assert shown(f, record()) is None
    clock.now += 5
    assert shown(f, record()) == (
        "Unable connect to node with id 1: refused (and 1 more like this in the last 10 s)"
    )


def test_no_count_when_nothing_was_dropped_and_the_span_is_the_time_since_the_last() -> None:
    clock = Clock()
    f = RepeatFilter(interval=10.0, clock=clock)
    assert shown(f, record()) is not None
    clock.now += 60
    assert shown(f, record()) == "Unable connect to node with id 1: refused"
    clock.now += 1
    assert shown(f, record()) is None
    clock.now += 299
    assert shown(f, record()).endswith("(and 1 more like this in the last 300 s)")  # type: ignore[union-attr]


def test_a_kind_is_logger_level_and_template_whatever_the_arguments() -> None:
    clock = Clock()
    f = RepeatFilter(clock=clock)
    assert shown(f, record()) is not None
    assert shown(f, record("Unable connect to node with id %s: %s", 7, "timeout")) is None
    assert shown(f, record(level=logging.WARNING)) is not None
    assert shown(f, record(name="aiokafka.conn")) is not None
    assert shown(f, record("Unable to update metadata from %s", [1])) is not None
    assert shown(f, record("Unable to update metadata from %s", [2])) is None


def test_a_percent_sign_in_the_arguments_is_kept_as_is() -> None:
    clock = Clock()
    f = RepeatFilter(clock=clock)
    f.filter(record("Failed fetch messages from %s: %s", 1, "x"))
    f.filter(record("Failed fetch messages from %s: %s", 1, "x"))
    clock.now += 10
    rec = record("Failed fetch messages from %s: %s", 1, "100% %s %d")
    assert f.filter(rec)
    expected = (
        "ERROR Failed fetch messages from 1: 100% %s %d (and 1 more like this in the last 10 s)"
    )
    assert logging.Formatter("%(levelname)s %(message)s").format(rec) == expected
    # the formatter Faust's worker logs with
    assert ExtensionFormatter(fmt="%(levelname)s %(message)s").format(rec) == expected


def test_arguments_that_do_not_fit_the_template_are_left_to_logging() -> None:
    clock = Clock()
    f = RepeatFilter(clock=clock)
    f.filter(record("broken %s %s", 1, 2))
    f.filter(record("broken %s %s", 1, 2))
    clock.now += 10
    rec = record("broken %s %s", 1, 2, 3)
    assert f.filter(rec)  # no exception here; logging reports the bad call itself
    assert rec.msg == "broken %s %s" and rec.args == (1, 2, 3)


def test_it_remembers_at_most_max_kinds_forgetting_the_least_recently_shown() -> None:
    clock = Clock()
    f = RepeatFilter(clock=clock, max_kinds=3)
    for n in range(3):
        assert f.filter(record(f"kind {n} %s", 1))
    assert not f.filter(record("kind 0 %s", 1))
    assert f.filter(record("kind 3 %s", 1))  # "kind 0" is forgotten
    assert f.filter(record("kind 0 %s", 1))
    assert not f.filter(record("kind 2 %s", 1))
    assert not f.filter(record("kind 3 %s", 1))


def test_a_parser_error_loses_its_traceback_and_keeps_one_line() -> None:
    try:
        raise LineTooLong("/" + "a" * 10_000, "8190", "10001")
    except LineTooLong as caught:
        exc = caught
    rec = record("Error handling request from %s", "203.0.113.9", name="aiohttp.server", exc=exc)
    assert ParserErrorFilter().filter(rec)
    text = logging.Formatter("%(levelname)s %(message)s").format(rec)
    assert "\n" not in text and "Traceback" not in text
    assert text.startswith(
        "ERROR Error handling request from 203.0.113.9: LineTooLong (400): Got more than 8190 "
        "bytes when reading: '/aaa"
    )
    assert len(text) <= len("ERROR Error handling request from 203.0.113.9: ") + MAX_DETAIL
    assert text.endswith("...")
    # still a template, so the repeat filter takes every client's parser errors as one kind
    assert rec.msg == "Error handling request from %s: %s"


def test_control_characters_of_a_rejected_request_do_not_reach_the_log() -> None:
    exc = BadStatusLine("GARBAGE")
    exc.message = "Bad status line GARBAGE\r\nFAKE LOG LINE\x1b[31m"
    rec = record("Error handling request from %s", "198.51.100.1", name="aiohttp.server", exc=exc)
    ParserErrorFilter().filter(rec)
    assert rec.getMessage() == (
        "Error handling request from 198.51.100.1: BadStatusLine (400): "
        "Bad status line GARBAGE FAKE LOG LINE?[31m"
    )


def test_other_errors_keep_their_traceback() -> None:
    try:
        raise RuntimeError("a bug in a view")
    except RuntimeError as caught:
        exc = caught
    rec = record("Error handling request from %s", "127.0.0.1", name="aiohttp.server", exc=exc)
    assert ParserErrorFilter().filter(rec)
    assert rec.exc_info is not None and rec.msg == "Error handling request from %s"
    assert "Traceback" in logging.Formatter().format(rec)


@pytest.fixture
def fresh_filters() -> Iterator[None]:
    """Take off whatever `install` put on the loggers."""
    yield
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            for f in list(logger.filters):
                if isinstance(f, (RepeatFilter, ParserErrorFilter)):
                    logger.removeFilter(f)


@pytest.mark.usefixtures("fresh_filters")
def test_install_covers_the_noisy_loggers_and_their_descendants() -> None:
    import aiohttp.web  # noqa: F401  (creates the loggers, as the worker's imports do)
    import aiokafka  # noqa: F401

    parser_errors, repeats = install()
    for name in [*NOISY, "aiokafka.conn", "aiokafka.consumer.fetcher", "aiohttp.server"]:
        assert logging.getLogger(name).filters == [parser_errors, repeats], name
    assert repeats not in logging.getLogger("faust").filters
    install()  # again: the loggers keep the filters they have
    assert logging.getLogger("aiokafka").filters == [parser_errors, repeats]


@pytest.mark.usefixtures("fresh_filters")
def test_the_filters_outlast_the_logging_setup_of_fausts_worker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    child = logging.getLogger("cxtestnoisy.conn")
    install(names=["cxtestnoisy"])
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        # what mode's Worker (under faust.Worker) does as it starts: new handlers on the root
        setup_logging(loglevel="INFO", logfile=io.StringIO())
        for n in range(500):
            child.error("Unable connect to node with id %s: %s", n, "refused")
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [line for line in capsys.readouterr().err.splitlines() if "Unable connect" in line]
    assert len(lines) == 1, lines
    assert "id 0: refused" in lines[0]
