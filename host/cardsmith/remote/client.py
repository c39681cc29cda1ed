"""The station's HTTP client of the issuer server (httpx): one method per resource it uses, every error a
typed ServerError. Every request it sends is safe to repeat (uploads by digest, reservations that return the
station's own open one, reports that answer ``repeated``), so transport failures are retried a few times
before the station is told the server is unavailable."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import (
    EnvironmentProblem,
    ServerAuthError,
    ServerConflict,
    ServerError,
    ServerUnavailable,
    UsageError,
)

KEY_ENV, KEY_FILE_ENV = "CARDSMITH_SERVER_KEY", "CARDSMITH_SERVER_KEY_FILE"
ATTEMPTS = 3
BACKOFF_S = (0.2, 0.6)
TIMEOUT_S = 10.0
PAGE = 1000


def read_key() -> str:
    """The station's key: $CARDSMITH_SERVER_KEY, or the file named by $CARDSMITH_SERVER_KEY_FILE (never an
    argument: arguments show in the process list and the shell history)."""
    key = os.environ.get(KEY_ENV, "").strip()
    if not key and os.environ.get(KEY_FILE_ENV):
        path = Path(os.environ[KEY_FILE_ENV])
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise UsageError(f"{KEY_FILE_ENV}={path}: cannot read the key file ({exc.strerror})") from exc
    if not key:
        raise UsageError(f"the issuer server needs this station's key: set {KEY_ENV}, or {KEY_FILE_ENV} to a file "
                         "holding it (an admin grants one with `cardsmith server key add --role station`)")
    if not key.startswith("csk_"):
        raise UsageError(f"the server key in {KEY_ENV} / {KEY_FILE_ENV} is not a cardsmith key (csk_...)")
    return key


class ServerClient:
    """One issuer server, one station key."""

    def __init__(self, url: str, key: str, *, attempts: int = ATTEMPTS, timeout: float = TIMEOUT_S) -> None:
        try:
            import httpx
        except ImportError as exc:
            raise EnvironmentProblem("talking to the issuer server needs httpx: pip install httpx") from exc
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--server {url!r}: give the server's URL, http(s)://HOST:PORT")
        self.url = url.rstrip("/")
        self.attempts = attempts
        self._httpx = httpx
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"},
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- transport

    def send(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kw: Any) -> tuple[int, Any]:
        """One request, retried on transport errors and 503: its status and answer (parsed JSON, bytes, or
        None for a 404 listed in ``ok``, where "none" is an answer), or a typed error."""
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
            try:
                answer = self._http.request(method, path, **kw)
            except self._httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if answer.status_code == 503:
                last = _detail(answer)
                continue
            if answer.status_code not in ok:
                raise _error(answer)
            if answer.status_code == 404:
                return 404, None
            kind = answer.headers.get("content-type", "")
            return answer.status_code, answer.json() if kind.startswith("application/json") else answer.content
        raise ServerUnavailable(f"the issuer server {self.url} is unavailable ({last}); the station works on its "
                                "local store: run `cardsmith sync` when it answers again")

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.send(method, path, **kw)[1]

    # ---------------------------------------------------------------- resources

    def whoami(self) -> dict:
        return self.request("GET", "/v1/whoami")

    def upload_backup(self, digest: str, data: bytes) -> tuple[dict, bool]:
        """PUT a backup file; its entry and whether the server stored it now (False: it held it already)."""
        status, entry = self.send("PUT", f"/v1/backups/{digest}", content=data,
                                  headers={"content-type": "application/octet-stream"})
        return entry, status == 201

    def backups(self, card_id: str | None = None) -> list[dict]:
        """Every catalogue entry of the issuer (of one card), by card and sequence."""
        params = {"card_id": card_id} if card_id else {}
        return self._all_pages("/v1/backups", params, len)  # the catalogue pages by offset

    def backup_file(self, digest: str) -> bytes:
        return self.request("GET", f"/v1/backups/{digest}")

    def post_batch(self, batch: dict) -> dict:
        return self.request("POST", "/v1/batches", json=batch)

    def reserve(self, batch_id: int, record_id: str | None = None) -> dict:
        return self.request("POST", f"/v1/batches/{batch_id}/reservations", json={"record_id": record_id})

    def report(self, reservation: str, card_id: str, result: str, detail: str | None = None) -> dict:
        return self.request("POST", f"/v1/reservations/{reservation}",
                            json={"card_id": card_id, "result": result, "detail": detail})

    def batch_log(self, batch_id: int) -> list[dict]:
        return self.request("GET", f"/v1/batches/{batch_id}/log")

    def upload_usage(self, records: list[dict]) -> dict:
        """A terminal's batch of usage records (at most 1000). Safe to retry: the server de-duplicates by
        (card, counter), so records a lost answer had stored come back as ``repeated``, never twice."""
        return self.request("POST", "/v1/usage", json={"records": records})

    def deny_list(self, since: int | None = None, etag: str | None = None) -> tuple[dict | None, str | None]:
        """The deny list (all of it, or the changes after version ``since``) and its ETag; ``(None, etag)``
        when ``etag`` is still current (nothing changed: 304)."""
        headers = {"If-None-Match": etag} if etag else {}
        params = {"since": since} if since is not None else {}
        status, answer = self.send("GET", "/v1/deny", ok=(200, 304), params=params, headers=headers)
        if status == 304:
            return None, etag
        return answer, f'"{answer["version"]}"'

    # ---------------------------------------------------------------- remote update (docs/update.md)

    def update_service(self) -> dict:
        return self.request("GET", "/v1/updates/service")

    def update_service_key(self) -> dict:
        return self.request("POST", "/v1/updates/service/key")

    def put_update_service(self, certificate: bytes, issuer_key: bytes) -> dict:
        return self.request("PUT", "/v1/updates/service", json={"certificate": certificate.hex(),
                                                                "issuer_key": issuer_key.hex()})

    def upload_update(self, package: bytes) -> tuple[dict, bool]:
        """Stores a signed package; (its entry, whether it was new)."""
        status, entry = self.send("POST", "/v1/updates/packages", json={"package": package.hex()})
        return entry, status == 201

    def update_packages(self, card_id: str | None = None, state: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("card_id", card_id), ("state", state)) if v}
        return self._all_pages("/v1/updates/packages", params, lambda out: out[-1]["id"] if out else 0)

    def _all_pages(self, path: str, params: dict[str, Any], after: Callable[[list[dict]], int]) -> list[dict]:
        """Every item of a paged listing: pages of PAGE, each asked for after `after(what came so far)`."""
        out: list[dict] = []
        while True:
            page = self.request("GET", path, params=params | {"limit": PAGE, "after": after(out)})
            out += page
            if len(page) < PAGE:
                return out

    def update_issuer_check(self, sealed: bytes) -> dict:
        return self.request("POST", "/v1/updates/issuer-check", json={"sealed_certificate": sealed.hex()})

    def update_challenge(self, session: str) -> bytes:
        return bytes.fromhex(self.request("POST", f"/v1/updates/sessions/{session}/challenge")["nonce"])

    def update_authenticate(self, session: str, card_nonce: bytes, signature: bytes) -> dict:
        return self.request("POST", f"/v1/updates/sessions/{session}/authenticate",
                            json={"card_nonce": card_nonce.hex(), "signature": signature.hex()})

    def update_delivery(self, session: str, after: int) -> dict:
        return self.request("POST", f"/v1/updates/sessions/{session}/delivery", params={"after": after})

    def update_ack(self, session: str, package_id: int, ack: bytes | None = None,
                   refused: str | None = None) -> dict:
        body: dict[str, Any] = {"package_id": package_id}
        if ack is not None:
            body["ack"] = ack.hex()
        if refused is not None:
            body["refused"] = refused
        return self.request("POST", f"/v1/updates/sessions/{session}/ack", json=body)


def _detail(answer: Any) -> str:
    try:
        return str(answer.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status_code}"


def _error(answer: Any) -> ServerError:
    detail, status = _detail(answer), answer.status_code
    if status in (401, 403):
        return ServerAuthError(f"the issuer server refused this station's key: {detail}", status)
    if status == 409:
        return ServerConflict(f"the issuer server refused: {detail}", status)
    return ServerError(f"the issuer server refused the request ({status}): {detail}", status)
