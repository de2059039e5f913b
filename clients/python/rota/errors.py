"""Exceptions of the rota client.

Every error the API answers is an :class:`APIError` carrying the answer's
``status``, ``code``, ``message`` and ``field`` (the API's error shape
``{"error": {"code", "message", "field"}}``); the common statuses and codes
have subclasses so they can be caught by name.  A server that cannot be
reached raises :class:`ConnectionFailed`.
"""

from typing import Dict, Optional, Type


class RotaError(Exception):
    """Base class of every error this package raises."""


class ConnectionFailed(RotaError):
    """The server could not be reached, or the connection broke before an answer.

    ``method``, ``url`` and ``cause`` (the underlying ``OSError`` or
    ``urllib`` error) say what was tried.  The request may or may not have
    reached the server.
    """

    def __init__(self, method: str, url: str, cause: BaseException):
        self.method = method
        self.url = url
        self.cause = cause
        super().__init__("rota: %s %s: cannot reach the server: %s" % (method, url, cause))


class APIError(RotaError):
    """An error answer of the API.

    Attributes: ``status`` (HTTP status), ``code`` (the API's error code,
    like ``invalid`` or ``lease_lost``; ``None`` when the answer was not in
    the API's shape), ``message``, ``field`` (the field or parameter at
    fault, like ``priority`` or ``jobs[3].run_at``; ``None`` when none),
    ``method`` and ``path`` of the request.
    """

    def __init__(self, status: int, code: Optional[str], message: str, field: Optional[str] = None,
                 method: str = "", path: str = ""):
        self.status = status
        self.code = code
        self.message = message
        self.field = field or None
        self.method = method
        self.path = path
        text = "rota: %s %s: %d" % (method, path, status)
        if code:
            text += " %s" % code
        text += ": %s" % message
        if self.field:
            text += " (field %s)" % self.field
        super().__init__(text)


class BadRequest(APIError):
    """400: malformed JSON or an invalid field (``field`` names it)."""


class Unauthorized(APIError):
    """401: no token, or one the server does not know."""


class Forbidden(APIError):
    """403: the token's role is too low for this request."""


class NotFound(APIError):
    """404: no such job (or route)."""


class Conflict(APIError):
    """409: the job's state does not allow the request."""


class Duplicate(Conflict):
    """409 ``duplicate``: an active job has the key and ``on_conflict`` is ``reject``."""


class LeaseLost(Conflict):
    """409 ``lease_lost``: the lease token's attempt has ended (completed,
    failed, aborted, retried, rescued after its lease expired, deleted) or
    was never issued.  Nothing was changed; the job is no longer this
    worker's."""


class TooLarge(APIError):
    """413: the request body is over the server's limit."""


class TooManyRequests(APIError):
    """429: ``queue_full`` (the queue is at its maximum size) or
    ``too_many_long_polls`` (every long-poll slot of the server is taken)."""


class Unavailable(APIError):
    """503: the server is shutting down, or its store cannot be reached."""


class ServerError(APIError):
    """500 and any other 5xx but 503."""


_BY_CODE: Dict[str, Type[APIError]] = {
    "duplicate": Duplicate,
    "lease_lost": LeaseLost,
}

_BY_STATUS: Dict[int, Type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    429: TooManyRequests,
    503: Unavailable,
}


def error_class(status: int, code: Optional[str]) -> Type[APIError]:
    """The exception class for an error answer of this status and code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return APIError
