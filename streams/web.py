"""HTTP views on the worker's web port: score lookup, at-risk list, health and metrics."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web as aiohttp_web
from faust.exceptions import SameNode
from faust.web import Request, Response, View

from streams import health
from streams.scoring.engine import score_update
from streams.scoring.interaction import format_time
from streams.scoring.scorecard import BANDS
from streams.telemetry import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from streams.app import Processor

__all__ = ["register"]

log = logging.getLogger(__name__)

# ASCII only, matched whole (fullmatch: `$` alone would let a trailing newline through)
_CUSTOMER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}", re.ASCII)
_LIMIT: Final = re.compile(r"[0-9]{1,7}", re.ASCII)  # isdigit() also takes "²", int() does not
MAX_AT_RISK: Final = 1000
#: longest request target (path and query) a view is asked about; every real one is far shorter
MAX_URL: Final = 2048
#: most header bytes a request may carry (aiohttp takes 128 headers of 8 KiB each)
MAX_HEADER_BYTES: Final = 32 * 1024
PAGE: Final = files("streams").joinpath("page.html").read_bytes()


def _json(view: View, body: Any, status: int = 200) -> Response:
    return view.bytes(orjson.dumps(body), content_type="application/json", status=status)


_Handler = Callable[[aiohttp_web.Request], Awaitable[aiohttp_web.StreamResponse]]


@aiohttp_web.middleware
async def _plain_errors(
    request: aiohttp_web.Request, handler: _Handler
) -> aiohttp_web.StreamResponse:
    """Oversized requests are turned away, and every error the router or a view raises becomes
    a short JSON body: an unknown path, a method a view does not take, or a bug (500, logged
    here, never shown to the client).

    Requests aiohttp's own parser rejects (a request line or a header over 8190 bytes, more
    than 128 headers, bytes that are not HTTP) never get this far: aiohttp answers those with
    a plain-text 400 that names the problem, without a traceback.
    """
    if len(request.raw_path) > MAX_URL:
        return _error(414, {"error": "uri too long", "detail": f"at most {MAX_URL} characters"})
    if sum(len(k) + len(v) for k, v in request.raw_headers) > MAX_HEADER_BYTES:
        return _error(
            431,
            {
                "error": "request header fields too large",
                "detail": f"at most {MAX_HEADER_BYTES} bytes of headers",
            },
        )
    try:
        return await handler(request)
    except aiohttp_web.HTTPException as exc:
        if exc.status < 400:
            raise
        body: dict[str, Any] = {"error": exc.reason.lower()}
        headers = {}
        if isinstance(exc, aiohttp_web.HTTPMethodNotAllowed):
            body["allowed"] = sorted(exc.allowed_methods)
            headers["Allow"] = ", ".join(body["allowed"])
        return _error(exc.status, body, headers)
    except Exception:
        log.exception("error answering %s %.200r", request.method, request.path)
        return _error(500, {"error": "internal error"})


def _error(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> aiohttp_web.Response:
    return aiohttp_web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def register(p: Processor) -> None:
    app = p.app
    broker = health.watch(app, topics=[p.settings.keyed_topic])

    @app.page("/customers/{customer_id}")
    class CustomerView(View):
        """GET /customers/{id}: the customer's current score, components, measures, drivers."""

        async def get(self, request: Request, customer_id: str) -> Response:
            if not _CUSTOMER_ID.fullmatch(customer_id):
                return _json(
                    self,
                    {
                        "error": "invalid customer id",
                        "detail": "1-128 characters: letters, digits and _.:@-",
                    },
                    400,
                )
            # look up by real id (pseudonyms pass as is); the state, and so the worker that owns
            # it, is found under the key it is kept by, which is the pseudonym when enabled
            customer_id = p.pseudonym(customer_id)
            # A state is kept in the partition of the keyed-topic event that changed it (Faust
            # takes a table write's partition from the current event), so it lives with the
            # worker that consumes the keyed partition of the raw key bytes. Faust's table
            # routing (`route_req`, `table_route`) hashes the changelog's serialized key
            # instead, JSON for a str key ('"C-1"' rather than 'C-1'): another partition, often
            # another worker's, which does not hold the state and answers 404.
            try:
                return await app.router.route_topic_req(
                    p.keyed, customer_id.encode(), self.web, request
                )
            except SameNode:
                return self._lookup(customer_id)

        def _lookup(self, customer_id: str) -> Response:
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
            if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_AT_RISK:
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

    @app.page("/livez")
    class LiveView(View):
        """GET /livez: 200 while the worker's event loop serves requests, Kafka or not."""

        async def get(self, request: Request) -> Response:
            return _json(self, {"status": "alive"})

    @app.page("/healthz")
    class HealthView(View):
        """GET /healthz: 200 once state is recovered, the worker is processing and Kafka
        answers; 503 while starting or rebalancing, and while no broker answers."""

        async def get(self, request: Request) -> Response:
            consumer = app.consumer
            assigned = len(consumer.assignment()) if consumer is not None else 0
            rebalancing = bool(app.rebalancing)
            if broker.unreachable:
                status = "broker_unreachable"
            elif not p.ready or rebalancing:
                status = "starting"
            else:
                status = "ok"
            body = {
                "status": status,
                "recovered": p.ready,
                "rebalancing": rebalancing,
                "assigned_partitions": assigned,
                "customers_tracked": p.index.tracked(),
                **broker.as_dict(),
            }
            return _json(self, body, 200 if status == "ok" else 503)

    @app.page("/metrics")
    class MetricsView(View):
        """GET /metrics: Prometheus text format."""

        async def get(self, request: Request) -> Response:
            return self.bytes(p.telemetry.render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    # on Faust's aiohttp application: router errors and failures become short JSON answers
    app.web.web_app.middlewares.append(_plain_errors)  # type: ignore[attr-defined]
