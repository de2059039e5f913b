"""The HTTP client of rota's REST API (``rota serve``), standard library only.

Jobs, schedules, queues, stats, nodes and kinds come back as the API's JSON, decoded
into plain ``dict`` and ``list`` values (times as RFC 3339 strings,
durations as strings like ``"1m30s"``); see the API's OpenAPI document at
``/v1/openapi.json`` for every field.
"""

import datetime
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Union

from .errors import APIError, ConnectionFailed, error_class
from .events import DEFAULT_IDLE_TIMEOUT, EventStream, events_query

__all__ = ["Client", "Page", "SchedulePage", "Lease", "DEFAULT_TIMEOUT", "duration", "rfc3339", "parse_time"]

#: Seconds a request may take before it fails with :class:`ConnectionFailed`
#: (long-polling requests get their ``wait`` on top).
DEFAULT_TIMEOUT = 30.0

#: Longest part of an error answer's body kept in the message when the
#: answer is not in the API's error shape.
_MAX_RAW_ERROR = 500

Duration = Union[int, float, str, datetime.timedelta]
Time = Union[str, datetime.datetime]


def duration(value: Duration, name: str = "duration") -> Union[float, str]:
    """The API form of a duration: seconds as a number, a ``timedelta``
    as its seconds, a string (``"90s"``, ``"1h30m"``, ``"7d"``) as is."""
    if isinstance(value, bool):
        raise TypeError("%s: want seconds, a timedelta or a duration string, not a bool" % name)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float, str)):
        return value
    raise TypeError("%s: want seconds, a timedelta or a duration string, not %s" % (name, type(value).__name__))


def rfc3339(value: Time, name: str = "time") -> str:
    """The API form of a time: an aware ``datetime`` in RFC 3339, a string as is.
    A naive ``datetime`` is refused: its zone would be a guess."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError("%s: a naive datetime has no time zone; use datetime.now(timezone.utc) or similar" % name)
        return value.isoformat()
    raise TypeError("%s: want a datetime or an RFC 3339 string, not %s" % (name, type(value).__name__))


def parse_time(value: Optional[str]) -> Optional[datetime.datetime]:
    """An aware ``datetime`` from an RFC 3339 string of the API (nanoseconds
    are cut to microseconds); ``None`` for ``None`` or ``""``."""
    if not value:
        return None
    s = value.strip()
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    # Python before 3.11 takes at most 6 fractional digits, and exactly 3 or 6.
    date_time, sep, rest = s.partition(".")
    if sep:
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        digits, zone = rest[:i], rest[i:]
        s = date_time + "." + (digits + "000000")[:6] + zone
    return datetime.datetime.fromisoformat(s)


class Page(NamedTuple):
    """One page of :meth:`Client.list`: the jobs, and the cursor of the
    next page (``None`` on the last)."""

    jobs: List[Dict[str, Any]]
    next: Optional[str]


class SchedulePage(NamedTuple):
    """One page of :meth:`Client.list_schedules`: the schedules, by key,
    and the cursor of the next page (``None`` on the last)."""

    schedules: List[Dict[str, Any]]
    next: Optional[str]


class Lease(NamedTuple):
    """A leased job (:meth:`Client.lease`): the lease ``token`` to
    heartbeat, complete, fail or snooze it with, its ``deadline`` (an aware
    ``datetime``) and the ``job`` as the API shows it."""

    token: str
    deadline: Optional[datetime.datetime]
    job: Dict[str, Any]

    def __repr__(self) -> str:  # the token is a credential for this attempt
        return "Lease(job=%r, deadline=%r)" % (self.job.get("id"), self.deadline)


class Client:
    """A client of one rota server.

    ``url`` is the server's base URL (``http://127.0.0.1:7700``); ``token``
    the bearer token's secret, sent as ``Authorization: Bearer ...`` and
    never shown by ``repr``; ``timeout`` the seconds a request may take.
    A client keeps no connection open and may be shared between threads.
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
                 user_agent: str = "rota-python"):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("url: want http://host:port or https://host:port, not %r" % url)
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return "rota.Client(%r, token=%s, timeout=%r)" % (self.url, "<hidden>" if self._token else None, self.timeout)

    # -- transport ---------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, query: Optional[Iterable] = None,
                timeout: Optional[float] = None) -> Any:
        """Send one request and return its decoded JSON answer (``None`` for
        an empty one).  ``body`` is JSON-encoded when not ``None``; ``query``
        is a sequence of ``(name, value)`` pairs.  Error answers raise
        :class:`APIError` (a subclass by status and code); a server that
        cannot be reached raises :class:`ConnectionFailed`."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(list(query))
        data = None
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout if timeout is None else timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            try:
                raw = e.read()
            except (OSError, ValueError):
                raw = b""
            finally:
                e.close()
            raise self._api_error(e.code, raw, method, path) from None
        except urllib.error.URLError as e:
            cause = e.reason if isinstance(e.reason, BaseException) else e
            raise ConnectionFailed(method, self.url + path, cause) from e
        except (OSError, http.client.HTTPException) as e:  # timeouts, resets, a broken answer
            raise ConnectionFailed(method, self.url + path, e) from e
        if not raw:
            return None
        return json.loads(raw.decode("utf-8"))

    @staticmethod
    def _api_error(status: int, raw: bytes, method: str, path: str) -> APIError:
        code, message, field = None, "", None
        try:
            doc = json.loads(raw.decode("utf-8"))
            err = doc["error"]
            code, message, field = err.get("code"), err.get("message", ""), err.get("field")
        except (ValueError, KeyError, TypeError, AttributeError):
            message = raw.decode("utf-8", "replace").strip()[:_MAX_RAW_ERROR] or "HTTP %d" % status
        return error_class(status, code)(status, code, message, field, method, path)

    # -- jobs --------------------------------------------------------------

    def enqueue(self, kind: str, args: Any = None, *, queue: Optional[str] = None, priority: Optional[int] = None,
                run_at: Optional[Time] = None, delay: Optional[Duration] = None, hold: Optional[bool] = None,
                key: Optional[str] = None, on_conflict: Optional[str] = None,
                metadata: Optional[Mapping[str, str]] = None, max_attempts: Optional[int] = None,
                timeout: Optional[Duration] = None, user_requested: Optional[bool] = None) -> Dict[str, Any]:
        """Enqueue one job and return it (or, with a ``key`` and
        ``on_conflict="return"``, the active job that has the key).

        ``args`` is any JSON value (default ``{}``); ``run_at`` an aware
        ``datetime`` or RFC 3339 string; ``delay`` and ``timeout`` seconds,
        a ``timedelta`` or a duration string; ``on_conflict`` one of
        ``return``, ``replace``, ``update_priority``, ``reject`` (which
        raises :class:`Duplicate`).  Options left ``None`` take the kind's
        and the server's defaults."""
        return self.request("POST", "/v1/jobs", job_body(kind, args, queue=queue, priority=priority, run_at=run_at,
                                                         delay=delay, hold=hold, key=key, on_conflict=on_conflict,
                                                         metadata=metadata, max_attempts=max_attempts,
                                                         timeout=timeout, user_requested=user_requested))

    def enqueue_batch(self, jobs: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        """Enqueue several jobs, all or none, and return them in order.

        Each item is a mapping with ``kind`` and optionally ``args`` and the
        options of :meth:`enqueue` (``{"kind": "email.send", "args": {...},
        "delay": 60}``).  When one item is bad nothing is stored, and the
        :class:`BadRequest` names it (``field`` ``jobs[3].priority``)."""
        items = []
        for i, item in enumerate(jobs):
            item = dict(item)
            try:
                kind = item.pop("kind")
            except KeyError:
                raise ValueError("jobs[%d]: no kind" % i) from None
            args = item.pop("args", None)
            items.append(job_body(kind, args, **item))
        return self.request("POST", "/v1/jobs/batch", {"jobs": items})["jobs"]

    def get(self, job_id: int) -> Dict[str, Any]:
        """One job with its ``attempts`` and ``result``; :class:`NotFound` when there is none."""
        return self.request("GET", "/v1/jobs/%d" % _id(job_id))

    def list(self, *, state: Union[None, str, Sequence[str]] = None, kind: Union[None, str, Sequence[str]] = None,
             queue: Union[None, str, Sequence[str]] = None, key: Optional[str] = None,
             metadata: Optional[Mapping[str, str]] = None, created_from: Optional[Time] = None,
             created_to: Optional[Time] = None, run_at_from: Optional[Time] = None,
             run_at_to: Optional[Time] = None, limit: Optional[int] = None, order: Optional[str] = None,
             cursor: Optional[str] = None) -> Page:
        """One page of jobs, newest first (``order="asc"`` for oldest
        first).  ``state``, ``kind`` and ``queue`` take one name or several;
        ``metadata`` matches every given pair; the ``_from``/``_to`` ranges
        are ``[from, to)``.  Pass the page's ``next`` as ``cursor`` for the
        following page; :meth:`iter_jobs` does that for you."""
        q: List[tuple] = [("state", v) for v in ([state] if isinstance(state, str) else state or [])]
        q += events_query(kind, queue, key, metadata)
        for name, value in (("created_from", created_from), ("created_to", created_to),
                            ("run_at_from", run_at_from), ("run_at_to", run_at_to)):
            if value is not None:
                q.append((name, rfc3339(value, name)))
        if limit is not None:
            q.append(("limit", str(limit)))
        if order is not None:
            q.append(("order", order))
        if cursor is not None:
            q.append(("cursor", cursor))
        doc = self.request("GET", "/v1/jobs", query=q)
        return Page(doc.get("jobs") or [], doc.get("next") or None)

    def iter_jobs(self, **filters: Any) -> Iterator[Dict[str, Any]]:
        """Every job matching the filters of :meth:`list`, page after page
        (``limit`` is the page size)."""
        cursor = filters.pop("cursor", None)
        while True:
            page = self.list(cursor=cursor, **filters)
            yield from page.jobs
            if not page.next:
                return
            cursor = page.next

    def abort(self, job_id: int, reason: Optional[str] = None) -> Dict[str, Any]:
        """Abort a job; a running one is interrupted (a remote worker learns
        it at its next heartbeat).  :class:`Conflict` when it has ended."""
        body = {"reason": reason} if reason else None
        return self.request("POST", "/v1/jobs/%d/abort" % _id(job_id), body)

    def abort_key(self, kind: str, key: str, reason: Optional[str] = None) -> Dict[str, Any]:
        """Abort the active job of ``kind`` with ``key``; :class:`NotFound` when there is none."""
        body = {"kind": kind, "key": key}
        if reason:
            body["reason"] = reason
        return self.request("POST", "/v1/jobs/abort", body)

    def retry(self, job_id: int) -> Dict[str, Any]:
        """Run a final, scheduled or retrying job again now."""
        return self.request("POST", "/v1/jobs/%d/retry" % _id(job_id))

    def release(self, job_id: int) -> Dict[str, Any]:
        """Release a held job (enqueued with ``hold=True``)."""
        return self.request("POST", "/v1/jobs/%d/release" % _id(job_id))

    def delete(self, job_id: int) -> Dict[str, Any]:
        """Delete a job that is not running (role ``admin``)."""
        return self.request("DELETE", "/v1/jobs/%d" % _id(job_id))

    def complete_job(self, job_id: int, attempt: int, result: Any = None) -> Dict[str, Any]:
        """End a popped job's ``attempt`` (the job's ``attempt`` when
        :meth:`pop` returned it) done with ``result`` (any JSON); returns the
        job.  :class:`Conflict` (field ``attempt``) when that attempt no
        longer runs or was not popped through this server."""
        body: Dict[str, Any] = {"attempt": attempt}
        if result is not None:
            body["result"] = result
        return self.request("POST", "/v1/jobs/%d/complete" % _id(job_id), body)

    def fail_job(self, job_id: int, attempt: int, error: Optional[str] = None, *,
                 retry_after: Optional[Duration] = None, permanent: bool = False,
                 cancel: bool = False) -> Dict[str, Any]:
        """End a popped job's ``attempt`` otherwise: failed with ``error``
        (retried with the kind's backoff while attempts remain), or put back
        to run again after exactly ``retry_after`` (the attempt does not
        count and no error is recorded), or ended ``error`` at once
        (``permanent=True``), or ended ``aborted`` (``cancel=True``); at
        most one of the three.  Returns the job."""
        body: Dict[str, Any] = {"attempt": attempt}
        if error is not None:
            body["error"] = error
        if retry_after is not None:
            body["retry_after"] = duration(retry_after, "retry_after")
        if permanent:
            body["permanent"] = True
        if cancel:
            body["cancel"] = True
        return self.request("POST", "/v1/jobs/%d/fail" % _id(job_id), body)

    # -- queues, stats, nodes, kinds ----------------------------------------

    def queues(self) -> List[Dict[str, Any]]:
        """Every queue with ``paused``, ``max_size``, ``urgent_priority``,
        ``counts`` by state and ``oldest_queued_at``."""
        return self.request("GET", "/v1/queues")["queues"]

    def pause_queue(self, name: str) -> Dict[str, Any]:
        """Stop starting the queue's jobs."""
        return self.request("POST", "/v1/queues/%s/pause" % _name(name, "queue"))

    def resume_queue(self, name: str) -> Dict[str, Any]:
        """Start the queue's jobs again."""
        return self.request("POST", "/v1/queues/%s/resume" % _name(name, "queue"))

    def update_queue(self, name: str, *, paused: Optional[bool] = None, max_size: Optional[int] = None,
                     urgent_priority: Optional[int] = None) -> Dict[str, Any]:
        """Change a queue's limits (role ``admin``; the queue need not have
        jobs yet): ``max_size`` caps its waiting jobs (0: no cap; a full
        queue refuses jobs with :class:`TooManyRequests` ``queue_full``),
        ``urgent_priority`` lets jobs of that priority or under in anyway
        (-1: none), ``paused`` as :meth:`pause_queue`.  Fields left ``None``
        stay.  Returns the queue."""
        body: Dict[str, Any] = {}
        if paused is not None:
            body["paused"] = paused
        if max_size is not None:
            body["max_size"] = max_size
        if urgent_priority is not None:
            body["urgent_priority"] = urgent_priority
        return self.request("PATCH", "/v1/queues/%s" % _name(name, "queue"), body)

    def push(self, queue: str, kind: str, args: Any = None, **options: Any) -> Dict[str, Any]:
        """Enqueue one job into ``queue`` (``POST /v1/queues/{name}/push``);
        the options are those of :meth:`enqueue` but ``queue``."""
        if "queue" in options:
            raise TypeError("push: the queue is the first argument, not an option")
        return self.request("POST", "/v1/queues/%s/push" % _name(queue, "queue"), job_body(kind, args, **options))

    def pop(self, queue: str, *, kinds: Union[None, str, Sequence[str]] = None,
            metadata: Optional[Mapping[str, str]] = None, args: Optional[Mapping[str, Any]] = None,
            wait: Optional[Duration] = None) -> Optional[Dict[str, Any]]:
        """Take the next queued job of ``queue`` that matches the filters
        (OpenKAT's pop): one of ``kinds``, every ``metadata`` pair, and every
        top-level field of ``args`` (compared as JSON values).  Waits up to
        ``wait`` for one (long-polling; at most the server's 60 s).
        Returns the job, running and leased to the server for the kind's
        lease, or ``None`` when none matched in time; end it with
        :meth:`complete_job` or :meth:`fail_job` and its ``attempt``."""
        body: Dict[str, Any] = {}
        if kinds is not None:
            body["kinds"] = [kinds] if isinstance(kinds, str) else list(kinds)
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if args is not None:
            body["args"] = dict(args)
        timeout = self.timeout
        if wait is not None:
            body["wait"] = duration(wait, "wait")
            timeout += _seconds(wait)
        return self.request("POST", "/v1/queues/%s/pop" % _name(queue, "queue"), body, timeout=timeout)

    def stats(self, *, hours: Optional[int] = None, from_: Optional[Time] = None,
              to: Optional[Time] = None) -> Dict[str, Any]:
        """Counts ``by_state``, ``by_queue``, ``by_kind`` and ``per_hour``
        (over the last ``hours``, or ``from_``/``to``)."""
        q: List[tuple] = []
        if hours is not None:
            q.append(("hours", str(hours)))
        if from_ is not None:
            q.append(("from", rfc3339(from_, "from")))
        if to is not None:
            q.append(("to", rfc3339(to, "to")))
        return self.request("GET", "/v1/stats", query=q)

    def nodes(self) -> List[Dict[str, Any]]:
        """The node registry."""
        return self.request("GET", "/v1/nodes")["nodes"]

    def kinds(self) -> List[Dict[str, Any]]:
        """The kinds the serving node runs, with their configuration."""
        return self.request("GET", "/v1/kinds")["kinds"]

    # -- schedules ---------------------------------------------------------

    def create_schedule(self, key: str, kind: str, spec: str, args: Any = None, *, queue: Optional[str] = None,
                        priority: Optional[int] = None, metadata: Optional[Mapping[str, str]] = None,
                        zone: Optional[str] = None, jitter: Optional[Duration] = None,
                        enabled: Optional[bool] = None, misfire: Optional[str] = None,
                        misfire_grace: Optional[Duration] = None, misfire_cap: Optional[int] = None,
                        overlap: Optional[str] = None, condition: Optional[str] = None) -> Dict[str, Any]:
        """Store a new schedule and return it (with ``next_fire``).

        ``spec`` is a schedule spec (``"daily at 02:00"``, ``"every 15m"``,
        a cron line; see the guide) read in ``zone`` (IANA, default UTC);
        ``args`` any JSON; ``jitter`` and ``misfire_grace`` durations;
        ``misfire`` one of ``skip``, ``once``, ``all``; ``overlap`` one of
        ``allow``, ``skip``, ``queue_one``.  Options left ``None`` take the
        server's defaults.  :class:`Duplicate` (field ``key``) when the key
        exists."""
        body = schedule_body(key=key, kind=kind, spec=spec, args=args, queue=queue, priority=priority,
                             metadata=metadata, zone=zone, jitter=jitter, enabled=enabled, misfire=misfire,
                             misfire_grace=misfire_grace, misfire_cap=misfire_cap, overlap=overlap,
                             condition=condition)
        return self.request("POST", "/v1/schedules", body)

    def update_schedule(self, key: str, *, kind: Optional[str] = None, spec: Optional[str] = None, args: Any = None,
                        queue: Optional[str] = None, priority: Optional[int] = None,
                        metadata: Optional[Mapping[str, str]] = None, zone: Optional[str] = None,
                        jitter: Optional[Duration] = None, enabled: Optional[bool] = None,
                        misfire: Optional[str] = None, misfire_grace: Optional[Duration] = None,
                        misfire_cap: Optional[int] = None, overlap: Optional[str] = None,
                        condition: Optional[str] = None) -> Dict[str, Any]:
        """Change the fields given (those left ``None`` stay; ``metadata={}``
        clears the metadata) and return the schedule.  A new ``spec`` or
        ``zone`` moves the next fire; ``enabled=True`` also clears the
        disabled reason and fires next at the first time after now."""
        body = schedule_body(kind=kind, spec=spec, args=args, queue=queue, priority=priority, metadata=metadata,
                             zone=zone, jitter=jitter, enabled=enabled, misfire=misfire,
                             misfire_grace=misfire_grace, misfire_cap=misfire_cap, overlap=overlap,
                             condition=condition)
        return self.request("PATCH", "/v1/schedules/%s" % _name(key, "key"), body)

    def get_schedule(self, key: str) -> Dict[str, Any]:
        """One schedule; :class:`NotFound` (field ``key``) when there is none."""
        return self.request("GET", "/v1/schedules/%s" % _name(key, "key"))

    def list_schedules(self, *, kind: Optional[str] = None, enabled: Optional[bool] = None,
                       pending: Optional[bool] = None, search: Optional[str] = None, limit: Optional[int] = None,
                       cursor: Optional[str] = None) -> SchedulePage:
        """One page of schedules by key: of ``kind``, only enabled
        (``enabled=True``) or disabled ones (``False``), only ``queue_one``
        schedules with a fire waiting (``pending=True``), whose key or kind
        contains ``search`` (ignoring case).  Pass the page's ``next`` as
        ``cursor`` for the following page; :meth:`iter_schedules` does."""
        q: List[tuple] = []
        if kind is not None:
            q.append(("kind", kind))
        for name, value in (("enabled", enabled), ("pending", pending)):
            if value is not None:
                if not isinstance(value, bool):
                    raise TypeError("%s: want a bool, not %s" % (name, type(value).__name__))
                q.append((name, "true" if value else "false"))
        if search is not None:
            q.append(("search", search))
        if limit is not None:
            q.append(("limit", str(limit)))
        if cursor is not None:
            q.append(("cursor", cursor))
        doc = self.request("GET", "/v1/schedules", query=q)
        return SchedulePage(doc.get("schedules") or [], doc.get("next") or None)

    def iter_schedules(self, **filters: Any) -> Iterator[Dict[str, Any]]:
        """Every schedule matching the filters of :meth:`list_schedules`,
        page after page (``limit`` is the page size)."""
        cursor = filters.pop("cursor", None)
        while True:
            page = self.list_schedules(cursor=cursor, **filters)
            yield from page.schedules
            if not page.next:
                return
            cursor = page.next

    def enable_schedule(self, key: str) -> Dict[str, Any]:
        """Enable a schedule: it fires next at its first fire time after now
        (missed fires are not made up).  Returns the schedule."""
        return self.request("POST", "/v1/schedules/%s/enable" % _name(key, "key"))

    def disable_schedule(self, key: str, reason: Optional[str] = None) -> Dict[str, Any]:
        """Disable a schedule, recording ``reason`` as its
        ``disabled_reason``.  Returns the schedule."""
        body = {"reason": reason} if reason else None
        return self.request("POST", "/v1/schedules/%s/disable" % _name(key, "key"), body)

    def delete_schedule(self, key: str) -> None:
        """Delete a schedule (role ``admin``): the jobs it made stay, but
        those of fires written ahead whose time has not come."""
        self.request("DELETE", "/v1/schedules/%s" % _name(key, "key"))

    def preview_schedule(self, spec: str, *, tz: Optional[str] = None, after: Optional[Time] = None,
                         n: Optional[int] = None) -> Dict[str, Any]:
        """The next ``n`` (default 10) fire times of ``spec`` in zone ``tz``
        (IANA, default UTC) after ``after`` (default now), as
        ``rota schedules next`` lists them; stores nothing.  The answer has
        ``spec``, ``normalized`` (the spec as rota reads it), ``zone``,
        ``after``, ``fires`` (RFC 3339 strings in the zone) and ``never``
        (the spec stops before ``n`` fires).  An invalid spec is a
        :class:`BadRequest` naming ``spec`` with the parser's message."""
        q: List[tuple] = [("spec", spec)]
        if tz is not None:
            q.append(("tz", tz))
        if after is not None:
            q.append(("after", rfc3339(after, "after")))
        if n is not None:
            q.append(("n", str(n)))
        return self.request("GET", "/v1/schedule-preview", query=q)

    # -- live events ---------------------------------------------------------

    def events(self, *, kind: Union[None, str, Sequence[str]] = None, queue: Union[None, str, Sequence[str]] = None,
               key: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None,
               last_event_id: Optional[int] = None, reconnect: bool = True,
               reconnect_delay: Optional[float] = None,
               idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> EventStream:
        """The live job events (``GET /v1/events``) as an
        :class:`EventStream` of :class:`Event` s, connected when this returns.

        Filters: ``kind`` and ``queue`` (one name or several), ``key``, and
        every ``metadata`` pair.  Without ``last_event_id`` the stream starts
        with the changes made after this call; with it, after that event
        (``0``: the whole backlog).  The stream resumes by itself after a
        dropped connection, from its ``last_event_id``, without losing or
        repeating events; an ``Event`` of type ``gap`` says events may be
        missing (the id was older than the backlog, or a node dropped events
        under overload): reload what you show.  ``close()`` it (from any
        thread) or use it in a ``with`` block."""
        return EventStream(self, events_query(kind, queue, key, dict(metadata) if metadata else None),
                           last_event_id=last_event_id, reconnect=reconnect, reconnect_delay=reconnect_delay,
                           idle_timeout=idle_timeout)

    # -- the lease protocol (remote workers) ----------------------------------

    def lease(self, kinds: Sequence[str], *, queues: Optional[Sequence[str]] = None, max: int = 1,
              wait: Optional[Duration] = None, lease: Optional[Duration] = None,
              worker: Optional[str] = None) -> List[Lease]:
        """Take up to ``max`` jobs of ``kinds`` from ``queues`` (tried in
        order; default the server's ``["default"]``), waiting up to ``wait``
        for the first (long-polling); each is leased for ``lease`` (default
        the server's 30 s).  May return an empty list.  ``worker`` names
        this process in the job's attempt."""
        if isinstance(kinds, str):
            kinds = [kinds]
        body: Dict[str, Any] = {"kinds": list(kinds), "max": max}
        if queues is not None:
            body["queues"] = [queues] if isinstance(queues, str) else list(queues)
        timeout = self.timeout
        if wait is not None:
            body["wait"] = duration(wait, "wait")
            timeout += _seconds(wait)
        if lease is not None:
            body["lease"] = duration(lease, "lease")
        if worker is not None:
            body["worker"] = worker
        doc = self.request("POST", "/v1/leases", body, timeout=timeout)
        return [Lease(item["token"], parse_time(item.get("deadline")), item["job"]) for item in doc.get("leases") or []]

    def heartbeat(self, token: str, lease: Optional[Duration] = None) -> Dict[str, Any]:
        """Extend a lease (by ``lease``, default the length it was taken
        with); the answer has the new ``deadline`` and ``abort_requested``.
        :class:`LeaseLost` when the attempt is no longer this token's."""
        body: Dict[str, Any] = {"token": token}
        if lease is not None:
            body["lease"] = duration(lease, "lease")
        return self.request("POST", "/v1/leases/heartbeat", body)

    def complete(self, token: str, result: Any = None) -> Dict[str, Any]:
        """End a leased job done with ``result`` (any JSON); returns the job."""
        body: Dict[str, Any] = {"token": token}
        if result is not None:
            body["result"] = result
        return self.request("POST", "/v1/leases/complete", body)["job"]

    def complete_many(self, items: Iterable[Any]) -> List[Dict[str, Any]]:
        """End many leased jobs done in one request (at most 1000).  Each
        item is a token, or a ``(token, result)`` pair.  Returns one dict
        per item, in order: ``{"id", "state"}`` when it was completed, or
        ``{"id", "error": {"code", "message", "field"}}`` when it was
        refused (``lease_lost`` for a stale token); one refused item does
        not stop the others."""
        body_items = []
        for item in items:
            if isinstance(item, str):
                body_items.append({"token": item})
            else:
                token, result = item
                entry: Dict[str, Any] = {"token": token}
                if result is not None:
                    entry["result"] = result
                body_items.append(entry)
        return self.request("POST", "/v1/leases/complete/batch", {"items": body_items})["results"]

    def fail(self, token: str, error: str, *, retry_after: Optional[Duration] = None,
             final: bool = False) -> Dict[str, Any]:
        """End a leased job's attempt with ``error``: retried with the kind's
        backoff, or after exactly ``retry_after``, or not at all with
        ``final=True``; a job whose abort was requested ends ``aborted``.
        Returns the job."""
        body: Dict[str, Any] = {"token": token, "error": error}
        if retry_after is not None:
            body["retry_after"] = duration(retry_after, "retry_after")
        if final:
            body["final"] = True
        return self.request("POST", "/v1/leases/fail", body)["job"]

    def snooze(self, token: str, delay: Duration) -> Dict[str, Any]:
        """Put a leased job back for after ``delay`` without counting the
        attempt; returns the job."""
        return self.request("POST", "/v1/leases/snooze", {"token": token, "delay": duration(delay, "delay")})["job"]


def job_body(kind: str, args: Any = None, **options: Any) -> Dict[str, Any]:
    """The JSON of one job to enqueue: ``kind``, ``args`` and the options
    of :meth:`Client.enqueue` that are not ``None``."""
    known = {"queue", "priority", "run_at", "delay", "hold", "key", "on_conflict", "metadata",
             "max_attempts", "timeout", "user_requested"}
    unknown = set(options) - known
    if unknown:
        raise TypeError("unknown job option(s): %s" % ", ".join(sorted(unknown)))
    body: Dict[str, Any] = {"kind": kind}
    if args is not None:
        body["args"] = args
    for name, value in options.items():
        if value is None:
            continue
        if name in ("delay", "timeout"):
            value = duration(value, name)
        elif name == "run_at":
            value = rfc3339(value, name)
        elif name == "metadata":
            value = dict(value)
        body[name] = value
    return body


def schedule_body(**fields: Any) -> Dict[str, Any]:
    """The JSON of a schedule to create or the fields to change: the
    fields that are not ``None``, durations and metadata in the API's form."""
    body: Dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in ("jitter", "misfire_grace"):
            value = duration(value, name)
        elif name == "metadata":
            value = dict(value)
        body[name] = value
    return body


def _name(value: Any, what: str) -> str:
    """A queue name or schedule key as one path segment (a '/' as %2F)."""
    if not isinstance(value, str):
        raise TypeError("%s: want a str, not %s" % (what, type(value).__name__))
    if not value:
        raise ValueError("%s: empty" % what)
    return urllib.parse.quote(value, safe="")


def _id(job_id: Any) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise TypeError("job id: want an int, not %s" % type(job_id).__name__)
    return job_id


def _seconds(d: Duration) -> float:
    """Seconds of a duration, for local timeouts; a string it cannot read counts as 0."""
    if isinstance(d, datetime.timedelta):
        return d.total_seconds()
    if isinstance(d, (int, float)):
        return float(d)
    return parse_go_duration(d) or 0.0


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_go_duration(s: str) -> Optional[float]:
    """Seconds of a duration string in Go's syntax with days (``"1h30m"``,
    ``"7d"``, ``"250ms"``); ``None`` when it is not one."""
    s = s.strip()
    if not s:
        return None
    total, i = 0.0, 0
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        i = 1
    if s[i:] == "0":
        return 0.0
    if i >= len(s):
        return None
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            return None
        try:
            num = float(s[i:j])
        except ValueError:
            return None
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if unit not in _UNITS:
            return None
        total += num * _UNITS[unit]
        i = k
    return sign * total
