"""HTTP views on the worker's web port: score lookup, at-risk list, health and metrics."""

from __future__ import annotations

import re
import time
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

import orjson
from faust.web import Request, Response, View

from streams.scoring.engine import score_update
from streams.scoring.interaction import format_time
from streams.scoring.scorecard import BANDS
from streams.telemetry import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from streams.app import Processor

__all__ = ["register"]

_CUSTOMER_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
MAX_AT_RISK: Final = 1000
PAGE: Final = files("streams").joinpath("page.html").read_bytes()


def _json(view: View, body: Any, status: int = 200) -> Response:
    return view.bytes(orjson.dumps(body), content_type="application/json", status=status)


def register(p: Processor) -> None:
    app = p.app

    @app.page("/customers/{customer_id}")
    class CustomerView(View):
        """GET /customers/{id}: the customer's current score, components, measures, drivers."""

        async def get(self, request: Request, customer_id: str) -> Response:
            if not _CUSTOMER_ID.match(customer_id):
                return _json(
                    self,
                    {
                        "error": "invalid customer id",
                        "detail": "1-128 characters: letters, digits and _.:@-",
                    },
                    400,
                )
            customer_id = p.pseudonym(customer_id)  # look up by real id; pseudonyms pass as is
            return await self._lookup(request, customer_id)  # type: ignore[call-arg]

        @app.table_route(table=p.table, match_info="customer_id")  # type: ignore[arg-type]
        async def _lookup(self, request: Request, customer_id: str) -> Response:
            state = p.load(customer_id)
            if state is None or state.event_count == 0:
                return _json(self, {"error": "unknown customer", "customer_id": customer_id}, 404)
            body = score_update(state, p.card)
            body["as_of"] = format_time(time.time())
            body["history"] = [[format_time(t), score] for t, score in state.history]
            return _json(self, body)

    @app.page("/at-risk")
    class AtRiskView(View):
        """GET /at-risk?limit=N: this worker's at-risk customers, lowest score first."""

        async def get(self, request: Request) -> Response:
            raw = request.query.get("limit", "50")
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_AT_RISK:
                return _json(
                    self,
                    {
                        "error": "invalid limit",
                        "detail": f"limit is a whole number from 1 to {MAX_AT_RISK}",
                    },
                    400,
                )
            rows = []
            for customer_id, score in p.index.lowest(int(raw)):
                state = p.load(customer_id)
                if state is None:
                    continue
                update = score_update(state, p.card)
                rows.append(
                    {
                        "customer_id": customer_id,
                        "score": score,
                        "band": update["band"],
                        "confidence": update["confidence"],
                        "last_event_at": update["last_event_at"],
                        "drivers": [d for d in update["drivers"] if d["impact"] < 0][:3],
                        "profile": state.profile,
                    }
                )
            return _json(self, {"count": p.index.at_risk_count(), "customers": rows})

    @app.page("/stats")
    class StatsView(View):
        """GET /stats: this worker's customers by band and by current score (for the page)."""

        async def get(self, request: Request) -> Response:
            return _json(
                self,
                {
                    "tracked": p.index.tracked(),
                    "at_risk": p.index.at_risk_count(),
                    "bands": {band: p.index.count(band) for band in BANDS},
                    "distribution": p.index.distribution(),
                },
            )

    @app.page("/")
    class PageView(View):
        """GET /: a live page for people: customers at risk, score distribution, history."""

        async def get(self, request: Request) -> Response:
            return self.bytes(PAGE, content_type="text/html")

    @app.page("/healthz")
    class HealthView(View):
        """GET /healthz: 200 once state is recovered and the worker is processing, else 503."""

        async def get(self, request: Request) -> Response:
            consumer = app.consumer
            assigned = len(consumer.assignment()) if consumer is not None else 0
            rebalancing = bool(app.rebalancing)
            ok = p.ready and not rebalancing
            body = {
                "status": "ok" if ok else "starting",
                "recovered": p.ready,
                "rebalancing": rebalancing,
                "assigned_partitions": assigned,
                "customers_tracked": p.index.tracked(),
            }
            return _json(self, body, 200 if ok else 503)

    @app.page("/metrics")
    class MetricsView(View):
        """GET /metrics: Prometheus text format."""

        async def get(self, request: Request) -> Response:
            return self.bytes(p.telemetry.render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
