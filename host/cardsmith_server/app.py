"""The ASGI application: settings -> engine (migrated) -> FastAPI app with its middleware and error mapping.

Nothing a second process would need lives in process memory: every request opens a transaction on the shared
database, so any number of server processes can serve one PostgreSQL database.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __doc__ as package_doc
from . import usage
from .db import DatabaseUnavailable, make_engine, migrate
from .errors import ApiError
from .routes import router
from .settings import ServerSettings
from .update_routes import router as update_router
from .web import router as web_router

log = logging.getLogger("cardsmith.server")
VERSION = "1"


def _setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class BodyTooLarge(Exception):
    pass


class Limits:
    """Refuses bodies over ``max_body`` bytes (413) before reading them when Content-Length says so, or as soon
    as a streamed body passes the limit, and logs one JSON line per request (no secrets: the key id only)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, seen = time.perf_counter(), [0], [0]
        scope.setdefault("state", {})

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        async def counted() -> Message:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > self.max_body:
                raise BodyTooLarge
            return message

        try:
            length = int(dict(scope["headers"]).get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        try:
            if length > self.max_body:
                raise BodyTooLarge
            await self.app(scope, counted, send_logged)
        except BodyTooLarge:
            if not status[0]:
                await JSONResponse({"detail": f"the body is larger than the server takes ({self.max_body} bytes)"},
                                   status_code=413)(scope, receive, send_logged)
        finally:
            log.info(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": scope["method"],
                                 "path": scope["path"], "status": status[0],
                                 "ms": round((time.perf_counter() - start) * 1000, 2), "in": seen[0],
                                 "key": scope["state"].get("key_id")}, separators=(",", ":")))


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def create_app(settings: ServerSettings, *, engine: sa.Engine | None = None,
               usage_verifier: usage.Verifier | None = None) -> FastAPI:
    """The service for ``settings``; migrates the database first (raises DatabaseUnavailable if it cannot).
    ``usage_verifier`` checks every usage record before it is stored (usage.py); by default identity records
    are checked against the issuers' keys in ``settings.identity_keys`` (identity_records.py)."""
    from .identity_records import identity_verifier

    _setup_logging()
    engine = engine or make_engine(settings.db_url)
    migrate(engine)
    app = FastAPI(title="cardsmith issuer server", version=VERSION, description=package_doc or "",
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.settings = settings
    app.state.usage_verifier = usage_verifier or identity_verifier(dict(settings.identity_keys))
    app.include_router(router)
    app.include_router(update_router)  # remote update (docs/update.md)
    app.include_router(web_router)  # the operator's page (HTML, not in the OpenAPI description)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _problem(exc.status, str(exc))

    async def _unavailable(_request: Request, exc: Any) -> JSONResponse:
        return _problem(503, f"the server's database is unavailable ({type(exc).__name__}); nothing was changed: "
                        "retry later, the station keeps working offline", **{"Retry-After": "5"})

    for cls in (DatabaseUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError):
        app.add_exception_handler(cls, _unavailable)
    app.add_middleware(Limits, max_body=settings.max_body)
    return app
