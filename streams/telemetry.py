"""Prometheus metrics (`cx_*`, seconds, no customer ids as labels); label children are cached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from streams import __version__
from streams.contract import ERROR_CODES
from streams.scoring.risk import SEVERITIES
from streams.scoring.scorecard import BANDS
from streams.scoring.vocabulary import CHANNELS, EVENT_TYPES

__all__ = ["CONTENT_TYPE_LATEST", "Telemetry"]

OUTCOMES: Final = ("scored", "duplicate", "too_late", "dead_lettered")
ALERT_KINDS: Final = ("churn_risk", "score_drop", "silent", "recovered")
_LAG_BUCKETS: Final = (
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    15,
    60,
    300,
    900,
    3600,
    21600,
    86400,
    604800,
)


class Telemetry:
    """The processor's metrics in their own registry."""

    def __init__(self) -> None:
        # no *_created series: they double the scrape for nothing
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Info("cx_build", "cx-streams build information.", registry=r).info({"version": __version__})
        self._events = Counter(
            "cx_events",
            "Interaction events read, by type (known types; others are 'other'), channel and "
            "outcome (scored, duplicate, too_late, dead_lettered).",
            ["type", "channel", "outcome"],
            registry=r,
        )
        self._invalid = Counter(
            "cx_invalid_events",
            "Messages sent to the dead-letter topic, by reason (the dead-letter error code).",
            ["reason", "topic"],
            registry=r,
        )
        self._alerts = Counter(
            "cx_alerts", "Alerts published, by kind and severity.", ["kind", "severity"], registry=r
        )
        self._profiles = Counter(
            "cx_profiles", "Customer profiles read, by outcome.", ["outcome"], registry=r
        )
        self.score_updates = Counter("cx_score_updates", "Score updates published.", registry=r)
        self.event_lag = Histogram(
            "cx_event_time_lag_seconds",
            "Processing time minus event time (occurred_at) of scored events.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.score = Histogram(
            "cx_score",
            "Experience scores published in score updates (0-100).",
            buckets=tuple(range(10, 101, 10)),
            registry=r,
        )
        self.customers_tracked = Gauge(
            "cx_customers_tracked", "Customers whose state this worker holds.", registry=r
        )
        self.customers_at_risk = Gauge(
            "cx_customers_at_risk",
            "Customers of this worker in the at_risk or critical band.",
            registry=r,
        )
        self._customers_by_band = Gauge(
            "cx_customers", "Customers of this worker by current band.", ["band"], registry=r
        )
        self._event_children = {
            (t, c, o): self._events.labels(t, c, o)
            for t in (*EVENT_TYPES, "other", "invalid")
            for c in (*CHANNELS, "none")
            for o in OUTCOMES
        }
        self._tally: dict[tuple[str, str, str], int] = {}
        self._updates = 0
        self._invalid_children: dict[tuple[str, str], Counter] = {}
        self._alert_children = {
            (k, s): self._alerts.labels(k, s) for k in ALERT_KINDS for s in SEVERITIES
        }
        for code in ERROR_CODES:
            self._invalid.labels(code, "interactions")
        for outcome in ("accepted", "dead_lettered"):
            self._profiles.labels(outcome)
        for band in BANDS:
            self._customers_by_band.labels(band)

    def event(self, event_type: str, channel: str | None, outcome: str) -> None:
        """An interaction event read, counted at the next `flush()`."""
        key = (
            event_type if event_type in EVENT_TYPES else "other",
            channel if channel in CHANNELS else "none",
            outcome,
        )
        tally = self._tally
        tally[key] = tally.get(key, 0) + 1

    def score_update(self, score: float, lag: float) -> None:
        """A score update published, for a `score` and an event-time `lag` in seconds."""
        self._updates += 1
        self.score.observe(score)
        self.event_lag.observe(lag)

    def flush(self) -> None:
        """Add what was counted since the last flush to the counters (once a batch: a
        counter's lock costs more than the count)."""
        children = self._event_children
        for key, n in self._tally.items():
            children[key].inc(n)
        self._tally.clear()
        if self._updates:
            self.score_updates.inc(self._updates)
            self._updates = 0

    def invalid(self, reason: str, topic: str, *, counted: bool = False) -> None:
        """A dead-lettered message; `counted`: already in `cx_events` under its own outcome
        (a `too_late` event), so not counted there again as `invalid`."""
        child = self._invalid_children.get((reason, topic))
        if child is None:
            child = self._invalid_children[(reason, topic)] = self._invalid.labels(reason, topic)
        child.inc()
        if topic == "interactions" and not counted:
            self._event_children[("invalid", "none", "dead_lettered")].inc()

    def alert(self, kind: str, severity: str) -> None:
        self._alert_children[(kind, severity)].inc()

    def profile(self, outcome: str) -> None:
        self._profiles.labels(outcome).inc()

    def watch_bands(self, count: Callable[[str], int]) -> None:
        """Read the band gauges from the customer index at scrape time."""
        for band in BANDS:
            self._customers_by_band.labels(band).set_function(_counter_of(count, band))

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)


def _counter_of(count: Callable[[str], int], band: str) -> Callable[[], float]:
    return lambda: float(count(band))
