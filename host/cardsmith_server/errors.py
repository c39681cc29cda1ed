"""What a request can run into, each with the HTTP status the API answers and a message saying what to do."""

from __future__ import annotations

from cardsmith.core.errors import CardsmithError


class ApiError(CardsmithError):
    status = 400


class Invalid(ApiError):
    """The request is malformed or its content fails a check (422)."""

    status = 422


class DigestMismatch(ApiError):
    """The body is not what the URL's digest names: it changed on the way (400)."""

    status = 400


class NotFound(ApiError):
    """Nothing by that name in the caller's issuer (404; another issuer's data is never revealed)."""

    status = 404


class Conflict(ApiError):
    """The request would overwrite or contradict what is stored; nothing was changed (409)."""

    status = 409


class Forbidden(ApiError):
    """The caller's role does not allow this (403)."""

    status = 403
