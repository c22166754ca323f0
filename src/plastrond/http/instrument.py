"""The http mode's metrics: `GET /metrics`, and a count and timing of every request by route.

`instrument(app)` adds the route and two request hooks to the quart-trio app. A request's
`route` label is the pattern of the route that answered (`/jobs/<path:job_id>`), never the
path asked for, and `(unmatched)` for a path no route has: a client cannot grow the series.
"""

from __future__ import annotations

import time

from quart import Response, g, request
from quart_trio import QuartTrio

from .. import metrics

__all__ = ["instrument"]

UNMATCHED = "(unmatched)"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def instrument(app: QuartTrio) -> None:
    @app.get("/metrics")
    async def metrics_route() -> Response:
        return Response(metrics.exposition(), 200, content_type=metrics.CONTENT_TYPE)

    @app.before_request
    async def started() -> None:
        g.plastrond_started = time.perf_counter()

    @app.after_request
    async def count(response: Response) -> Response:
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        method = request.method if request.method in _METHODS else "OTHER"
        metrics.HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        began = g.get("plastrond_started")
        if began is not None:
            metrics.HTTP_REQUEST_SECONDS.labels(route).observe(time.perf_counter() - began)
        return response
