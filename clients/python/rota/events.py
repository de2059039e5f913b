"""Live events: ``GET /v1/events`` (server-sent events) as a Python iterator.

    with client.events(kind="scan.nmap", metadata={"org": "acme"}) as stream:
        for event in stream:
            if event.type == "gap":      # events may be missing: reload what you show
                reload()
            else:                         # "job": a job's state change
                update(event.data["job_id"], event.data["to"])

The stream resumes by itself after a dropped connection: it reconnects with
the ``Last-Event-ID`` of the last event it passed on, so the server sends what
came after it, nothing twice and nothing lost (an event whose bytes were cut
off by the drop was never passed on and comes again whole).  Only an
``Event`` whose blank line arrived is dispatched, as ``EventSource`` does.
"""

import http.client
import json
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .errors import APIError, ConnectionFailed

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

__all__ = ["Event", "EventStream", "DEFAULT_IDLE_TIMEOUT"]

#: Seconds without a byte (event or heartbeat comment) after which a stream
#: counts its connection as dead and reconnects: three of the server's 15 s
#: heartbeats.
DEFAULT_IDLE_TIMEOUT = 45.0

#: Seconds before reconnecting when the server gave no ``retry:`` advice.
DEFAULT_RECONNECT_DELAY = 2.0

#: Longest pause between failed reconnection attempts.
MAX_RECONNECT_DELAY = 30.0

#: Statuses of a (re)connection that are worth another try: the stream
#: slots are taken (429), the server is shutting down or overloaded.
_RETRY_STATUSES = (429, 500, 502, 503, 504)


class Event(NamedTuple):
    """One event of the stream.

    ``id`` is the event's durable id (what a resume starts after); ``type``
    is ``"job"`` (``data`` is the state change: ``job_id``, ``kind``,
    ``queue``, ``key``, ``metadata``, ``from``, ``to``, ``attempt``,
    ``error``, ``at``, ... plus ``id`` and ``node``) or ``"gap"`` (events may
    be missing; ``data`` has ``reason``: ``pruned``, ``dropped`` or
    ``unknown_id``, and ``after``).  ``data`` is the decoded JSON."""

    id: Optional[int]
    type: str
    data: Any


class EventStream:
    """An open ``GET /v1/events`` stream; iterate it for :class:`Event` s.

    Made by :meth:`rota.Client.events`, which connects before it returns
    (so an error answer, a 400 naming the bad filter or a 401, is raised
    there, and every change made after it returns is in the stream).
    Iterating blocks until the next event.

    ``last_event_id`` is the id of the last event passed on (or the id the
    stream started after); ``reconnects`` counts the reconnections.  A
    dropped connection, an answer of 429 or 5xx, or ``idle_timeout`` seconds
    without a byte make it reconnect after ``reconnect_delay`` (default:
    the server's advice, 2 s), doubling up to 30 s while it fails; with
    ``reconnect=False`` they end the iteration with
    :class:`ConnectionFailed` instead.  Other error answers on a reconnect
    (401, 403, 400) are raised.

    :meth:`close` ends it, from any thread (a loop blocked waiting for the
    next event ends at once); so does leaving a ``with`` block.
    """

    def __init__(self, client: "Client", query: Sequence[Tuple[str, str]], last_event_id: Optional[int] = None,
                 reconnect: bool = True, reconnect_delay: Optional[float] = None,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT):
        if last_event_id is not None and (isinstance(last_event_id, bool) or not isinstance(last_event_id, int)):
            raise TypeError("last_event_id: want an int, not %s" % type(last_event_id).__name__)
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout: want seconds above 0, not %r" % (idle_timeout,))
        if reconnect_delay is not None and reconnect_delay < 0:
            raise ValueError("reconnect_delay: want seconds from 0, not %r" % (reconnect_delay,))
        self.last_event_id: Optional[int] = last_event_id
        self.reconnects = 0
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.idle_timeout = idle_timeout
        self._client = client
        parsed = urllib.parse.urlsplit(client.url)
        self._https = parsed.scheme == "https"
        self._netloc = parsed.netloc.rpartition("@")[2]
        self._path = parsed.path.rstrip("/") + "/v1/events"
        if query:
            self._path += "?" + urllib.parse.urlencode(list(query))
        self._retry: Optional[float] = None  # the server's retry: advice, seconds
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._resp: Optional[http.client.HTTPResponse] = None
        self._sock: Optional[socket.socket] = None
        # The first connection sends a given id as the query parameter (its
        # 400 then names the argument); reconnections send the header.
        first: List[Tuple[str, str]] = []
        if last_event_id is not None:
            first.append(("last_event_id", str(last_event_id)))
        self._connect(first)
        self._gen = self._events()

    def __repr__(self) -> str:
        return "rota.EventStream(%r, last_event_id=%r, closed=%r)" % (
            self._client.url + self._path, self.last_event_id, self.closed)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed.is_set()

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        return next(self._gen)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """End the stream and its connection.  Safe from any thread: an
        iteration blocked waiting for data or for a reconnection ends (it
        raises ``StopIteration``); later ones end at once."""
        self._closed.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another thread
            except OSError:
                pass
        try:
            self._gen.close()
        except ValueError:  # running in another thread: it sees the shutdown and closes the connection
            return
        self._disconnect()

    def __del__(self) -> None:
        try:
            self._disconnect()
        except Exception:  # noqa: BLE001 - at interpreter exit anything may be gone
            pass

    # -- connection ------------------------------------------------------------

    def _url(self) -> str:
        return self._client.url + self._path

    def _connect(self, query: Sequence[Tuple[str, str]] = ()) -> None:
        """Open the stream, or raise: APIError for an error answer,
        ConnectionFailed when the server cannot be reached."""
        path = self._path
        if query:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(list(query))
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                   "User-Agent": self._client.user_agent}
        token = self._client._token
        if token:
            headers["Authorization"] = "Bearer " + token
        if not query and self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._netloc, timeout=self._client.timeout)
        try:
            conn.connect()
            sock = conn.sock  # kept: getresponse may let go of it
            with self._lock:  # from now on close() can cut the wait for the answer
                if self._closed.is_set():
                    conn.close()
                    return
                self._sock = sock
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            with self._lock:
                self._sock = None
            conn.close()
            if self._closed.is_set():
                return
            raise ConnectionFailed("GET", self._url(), e) from e
        if resp.status != 200:
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            conn.close()
            with self._lock:
                self._sock = None
            raise self._client._api_error(resp.status, raw, "GET", self._path)
        ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        if ctype != "text/event-stream":
            conn.close()
            with self._lock:
                self._sock = None
            raise APIError(resp.status, None, "want a text/event-stream, got Content-Type %r" % ctype,
                           None, "GET", self._path)
        if sock is not None:
            sock.settimeout(self.idle_timeout)
        with self._lock:
            if self._closed.is_set():
                self._sock = None
                conn.close()
                return
            self._conn, self._resp = conn, resp

    def _disconnect(self) -> None:
        with self._lock:
            conn, resp = self._conn, self._resp
            self._conn = self._resp = self._sock = None
        if resp is not None:
            try:
                resp.close()
            except (OSError, http.client.HTTPException):
                pass
        if conn is not None:
            conn.close()

    def _reconnect(self) -> bool:
        """Connect again after a pause; False when closed meanwhile."""
        delay = self.reconnect_delay
        if delay is None:
            delay = self._retry if self._retry is not None else DEFAULT_RECONNECT_DELAY
        while True:
            if self._closed.wait(delay):
                return False
            try:
                self._connect()
            except ConnectionFailed:
                pass
            except APIError as e:
                if e.status not in _RETRY_STATUSES:
                    raise
            else:
                if self._closed.is_set():
                    return False
                self.reconnects += 1
                return True
            delay = min(MAX_RECONNECT_DELAY, max(0.1, delay * 2))

    # -- reading ---------------------------------------------------------------

    def _events(self) -> Iterator[Event]:
        try:
            while not self._closed.is_set():
                if self._resp is None and not self._reconnect():
                    return
                resp = self._resp
                assert resp is not None
                cause: BaseException = EOFError("the server ended the stream")
                # Per connection, as EventSource: the fields of the event
                # being read; its id counts only once its blank line came.
                typ, id_buf = "", self.last_event_id
                data: List[str] = []
                try:
                    while True:
                        raw = resp.readline()
                        if not raw:
                            break
                        line = raw.decode("utf-8", "replace").rstrip("\r\n")
                        if line:
                            if line.startswith(":"):  # a comment: the heartbeat
                                continue
                            name, _, value = line.partition(":")
                            if value.startswith(" "):
                                value = value[1:]
                            if name == "id":
                                try:
                                    id_buf = int(value)
                                except ValueError:
                                    pass
                            elif name == "event":
                                typ = value
                            elif name == "data":
                                data.append(value)
                            elif name == "retry" and value.isdigit():
                                self._retry = int(value) / 1000.0
                            continue
                        # A blank line: dispatch.
                        event = _event(id_buf, typ, data) if data else None
                        typ, data = "", []
                        prev = self.last_event_id
                        if (event is not None and event.type == "job" and prev is not None and id_buf is not None
                                and id_buf <= prev):
                            continue  # passed on already (the server never resends one; a guard)
                        self.last_event_id = id_buf
                        if event is not None:
                            yield event
                except (OSError, http.client.HTTPException) as e:
                    cause = e
                self._disconnect()
                if self._closed.is_set():
                    return
                if not self.reconnect:
                    raise ConnectionFailed("GET", self._url(), cause)
        finally:
            self._disconnect()


def _event(event_id: Optional[int], typ: str, data: List[str]) -> Event:
    text = "\n".join(data)
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    return Event(event_id, typ or "message", value)


def events_query(kind: Any = None, queue: Any = None, key: Optional[str] = None,
                 metadata: Optional[Dict[str, str]] = None) -> List[Tuple[str, str]]:
    """The query parameters of these job filters, as ``GET /v1/events`` and ``GET /v1/jobs`` read them."""
    q: List[Tuple[str, str]] = []
    for name, value in (("kind", kind), ("queue", queue)):
        if value is None:
            continue
        for v in [value] if isinstance(value, str) else value:
            q.append((name, v))
    if key is not None:
        q.append(("key", key))
    for k, v in (metadata or {}).items():
        q.append(("metadata", "%s=%s" % (k, v)))
    return q
