"""A remote worker: runs jobs of the kinds it registers, leased from a rota
server over the lease protocol (``POST /v1/leases`` and its heartbeat,
complete, fail and snooze).

    client = rota.Client("http://127.0.0.1:7700")
    w = rota.Worker(client, queues=["default"], concurrency=4)

    @w.kind("report.build")
    def build(job):
        return {"pages": make_report(job.args)}   # the job's result (JSON)

    w.run()   # until SIGINT or SIGTERM

A function's return value completes the job (its result); an exception fails
the attempt with its text and traceback (retried with the kind's backoff);
:class:`RetryAfter`, :class:`Fail` and :class:`Snooze` ask for a retry after a
given delay, a final failure, or a later run that does not count as an attempt.
"""

import json
import logging
import os
import queue as queuelib
import signal
import socket
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .client import Client, Duration, Lease, _seconds, parse_time
from .errors import APIError, BadRequest, ConnectionFailed, LeaseLost, ServerError, TooLarge, TooManyRequests, Unavailable

__all__ = ["Worker", "Job", "RetryAfter", "Fail", "Snooze",
           "DEFAULT_CONCURRENCY", "DEFAULT_LEASE", "DEFAULT_WAIT", "DEFAULT_GRACE"]

#: Jobs a worker runs at once by default.
DEFAULT_CONCURRENCY = 10
#: Seconds a lease lasts by default; the worker heartbeats at a third of it.
DEFAULT_LEASE = 30.0
#: Seconds a lease request long-polls for work by default.
DEFAULT_WAIT = 10.0
#: Seconds running jobs get to finish after a stop was asked for, by default.
DEFAULT_GRACE = 30.0
#: Seconds after which a job given back at shutdown may run again (a snooze:
#: the attempt is not counted).
GIVE_BACK_DELAY = 1.0
#: Most jobs one lease request may ask for (the protocol's limit).
MAX_LEASE_BATCH = 1000
#: Longest worker name the protocol records.
MAX_NAME = 200
#: Shortest time between two lease requests that found nothing (a
#: ``wait`` of 0 would otherwise poll in a tight loop).
IDLE_PAUSE = 0.25
#: Longest pause between failed lease requests.
MAX_BACKOFF = 30.0
#: Longest error text sent to the server (the end of a traceback is kept).
MAX_ERROR_TEXT = 16 * 1024

_TRANSIENT = (ConnectionFailed, Unavailable, ServerError, TooManyRequests)

_RUNNING, _FINISHING, _LOST, _GIVEN_BACK = "running", "finishing", "lost", "given back"


def _plain_failure(text: str, outcome: Dict[str, Any]) -> Dict[str, Any]:
    """A failure of the attempt (the kind's backoff) saying text, and the outcome's own error if any."""
    if "error" in outcome:
        text += "\n\n" + outcome["error"]
    return {"error": text[:MAX_ERROR_TEXT], "plain": True}


class RetryAfter(Exception):
    """Raise in a job to fail this attempt and run the job again after
    exactly ``seconds`` (instead of the kind's backoff); the attempt counts
    towards ``max_attempts``."""

    def __init__(self, seconds: Duration, message: str = ""):
        self.seconds = seconds
        super().__init__(message or "retry after %s" % (seconds,))


class Fail(Exception):
    """Raise in a job to fail it for good: no more attempts, it ends ``error``."""


class Snooze(Exception):
    """Raise in a job to put it back for after ``seconds`` without counting
    the attempt (the job was not ready to run, it did not fail)."""

    def __init__(self, seconds: Duration):
        self.seconds = seconds
        super().__init__("snooze %s" % (seconds,))


class Job:
    """A leased job as a worker's function sees it.

    ``id``, ``kind``, ``queue``, ``args`` (the decoded JSON), ``attempt``
    (1-based), ``max_attempts``, ``key``, ``priority``, ``metadata`` and
    ``data`` (the whole job as the API shows it); ``deadline``, the lease's
    current end (an aware ``datetime``, moved by each heartbeat).

    ``aborted`` is a ``threading.Event`` set when the job should stop: its
    abort was requested (learnt at a heartbeat), its lease was lost, or the
    worker is stopping and the grace time ran out.  A long job checks it
    (``if job.aborted.is_set(): return``) or waits on it instead of sleeping.
    ``abort_requested`` and ``lost`` tell which.
    """

    def __init__(self, lease: Lease, lease_seconds: float):
        self.data: Dict[str, Any] = lease.job
        self.id: int = lease.job["id"]
        self.kind: str = lease.job["kind"]
        self.queue: str = lease.job.get("queue", "")
        self.args: Any = lease.job.get("args")
        self.attempt: int = lease.job.get("attempt", 0)
        self.max_attempts: int = lease.job.get("max_attempts", 0)
        self.key: str = lease.job.get("key", "")
        self.priority: int = lease.job.get("priority", 0)
        self.metadata: Dict[str, str] = lease.job.get("metadata") or {}
        self.deadline = lease.deadline
        self.aborted = threading.Event()
        self.abort_requested = False
        self._token = lease.token
        self._state = _RUNNING
        self._lock = threading.Lock()
        now = time.monotonic()
        self._next_beat = now + lease_seconds / 3
        self._expires = now + lease_seconds  # local estimate of the deadline

    @property
    def lost(self) -> bool:
        """True when the lease was lost: the job is no longer this worker's
        and whatever the function returns is dropped."""
        return self._state == _LOST

    @property
    def lease_token(self) -> str:
        """The lease token of this attempt (for calling the client's lease
        methods directly; the worker does that itself)."""
        return self._token

    def __repr__(self) -> str:
        return "rota.Job(id=%r, kind=%r, attempt=%r)" % (self.id, self.kind, self.attempt)


class Worker:
    """Leases jobs of its registered kinds from ``client``'s server and runs
    them, ``concurrency`` at a time, each in a thread of its pool.

    ``queues`` are tried in order (default ``["default"]``); ``lease`` is the
    lease length in seconds (heartbeats go at a third of it); ``wait`` how long
    one lease request long-polls; ``grace`` how long running jobs get to
    finish after a stop; ``name`` identifies this process in the jobs'
    attempts (default ``host:pid``).
    """

    def __init__(self, client: Client, queues: Optional[Sequence[str]] = None,
                 concurrency: int = DEFAULT_CONCURRENCY, lease: Duration = DEFAULT_LEASE,
                 wait: Duration = DEFAULT_WAIT, grace: Duration = DEFAULT_GRACE,
                 name: Optional[str] = None, logger: Optional[logging.Logger] = None):
        if concurrency < 1:
            raise ValueError("concurrency: want at least 1, not %r" % concurrency)
        self.client = client
        self.queues: Optional[List[str]] = [queues] if isinstance(queues, str) else (list(queues) if queues else None)
        self.concurrency = concurrency
        self.lease = _seconds(lease)
        if self.lease < 1:
            raise ValueError("lease: want at least 1 second, not %r" % (lease,))
        self.wait = _seconds(wait)
        self.grace = _seconds(grace)
        self.name = (name or "%s:%d" % (socket.gethostname(), os.getpid()))[:MAX_NAME]
        self.log = logger or logging.getLogger("rota.worker")
        self._fns: Dict[str, Callable[[Job], Any]] = {}
        self._stop = threading.Event()
        self._hard_stop = threading.Event()
        self._closed = threading.Event()
        self._cond = threading.Condition()
        self._running: Dict[str, Job] = {}
        self._work: "queuelib.Queue[Optional[Job]]" = queuelib.Queue()
        self._started = False

    # -- registration --------------------------------------------------------

    def kind(self, name: str) -> Callable[[Callable[[Job], Any]], Callable[[Job], Any]]:
        """Decorator: run the function for jobs of kind ``name``.  It gets a
        :class:`Job` and returns the result (any JSON value, or ``None``)."""

        def register(fn: Callable[[Job], Any]) -> Callable[[Job], Any]:
            self.register(name, fn)
            return fn

        return register

    def register(self, name: str, fn: Callable[[Job], Any]) -> None:
        """Run ``fn`` for jobs of kind ``name``."""
        if not name:
            raise ValueError("kind: want a name")
        if name in self._fns:
            raise ValueError("kind %r is registered twice" % name)
        self._fns[name] = fn

    # -- running ---------------------------------------------------------------

    def stop(self, grace: Optional[Duration] = None) -> None:
        """Ask :meth:`run` to stop: no more leases, running jobs get ``grace``
        seconds (default the worker's) to finish.  Safe from any thread and
        from signal handlers; a second call stops without waiting."""
        if grace is not None:
            self.grace = _seconds(grace)
        if self._stop.is_set():
            self._hard_stop.set()
        self._stop.set()

    def run(self, handle_signals: bool = True) -> None:
        """Lease and run jobs until :meth:`stop` (or, with ``handle_signals``
        in the main thread, SIGINT or SIGTERM; a second signal stops without
        waiting).  Then wait up to the grace time for running jobs, and give
        back those still running (snoozed, their attempt not counted, their
        ``aborted`` set and their results dropped).

        Raises the :class:`APIError` of a lease request the server refuses
        for good (a bad token or role, a bad request); transient failures
        (unreachable server, 429, 5xx) are logged and retried with backoff.
        A worker runs once."""
        if not self._fns:
            raise ValueError("no kinds registered: use @worker.kind(name)")
        if self._started:
            raise RuntimeError("a Worker runs once")
        self._started = True
        previous = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        threads = [threading.Thread(target=self._pool_loop, name="rota-job-%d" % i, daemon=True)
                   for i in range(self.concurrency)]
        threads.append(threading.Thread(target=self._heartbeat_loop, name="rota-heartbeat", daemon=True))
        for t in threads:
            t.start()
        self.log.info("rota worker started: kinds=%s queues=%s concurrency=%d lease=%gs",
                      ",".join(sorted(self._fns)), ",".join(self.queues or ["default"]), self.concurrency, self.lease)
        try:
            self._lease_loop()
        finally:
            try:
                self._drain()
            finally:
                self._closed.set()
                for _ in range(self.concurrency):
                    self._work.put(None)
                for sig, handler in previous.items():
                    signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
                self.log.info("rota worker stopped")

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop.is_set():
            self.log.warning("rota worker: second signal %d: stopping without waiting for running jobs", signum)
        else:
            self.log.info("rota worker: signal %d: stopping; running jobs get %gs to finish", signum, self.grace)
        self.stop()

    def _lease_loop(self) -> None:
        kinds = sorted(self._fns)
        backoff = 0.0
        while not self._stop.is_set():
            with self._cond:
                while len(self._running) >= self.concurrency and not self._stop.is_set():
                    self._cond.wait(0.5)
                free = min(self.concurrency - len(self._running), MAX_LEASE_BATCH)
            if self._stop.is_set():
                return
            asked = time.monotonic()
            try:
                leases = self.client.lease(kinds, queues=self.queues, max=free, wait=self.wait,
                                           lease=self.lease, worker=self.name)
            except _TRANSIENT as e:
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF)
                self.log.warning("rota worker: lease request failed (again in %.1fs): %s", backoff, e)
                self._stop.wait(backoff)
                continue
            backoff = 0.0
            if not leases:
                self._stop.wait(max(0.0, asked + IDLE_PAUSE - time.monotonic()))
            for lease in leases:
                job = Job(lease, self.lease)
                if self._stop.is_set():
                    self._give_back(job, "the worker is stopping")
                    continue
                with self._cond:
                    self._running[job._token] = job
                self.log.debug("rota worker: job %d (%s) attempt %d leased", job.id, job.kind, job.attempt)
                self._work.put(job)

    def _drain(self) -> None:
        end = time.monotonic() + self.grace
        with self._cond:
            if self._running:
                self.log.info("rota worker: waiting up to %gs for %d running job(s)", self.grace, len(self._running))
            while self._running and time.monotonic() < end and not self._hard_stop.is_set():
                self._cond.wait(min(0.1, max(0.0, end - time.monotonic())))
            left = list(self._running.values())
        for job in left:
            self._give_back(job, "still running when the worker stopped")

    def _give_back(self, job: Job, why: str) -> None:
        with job._lock:
            if job._state != _RUNNING:
                return
            job._state = _GIVEN_BACK
        job.aborted.set()
        try:
            self.client.snooze(job._token, GIVE_BACK_DELAY)
            self.log.warning("rota worker: job %d (%s) given back: %s", job.id, job.kind, why)
        except (APIError, ConnectionFailed) as e:
            self.log.warning("rota worker: job %d (%s) could not be given back (%s); it runs again when its lease expires",
                             job.id, job.kind, e)
        self._forget(job)

    def _forget(self, job: Job) -> None:
        with self._cond:
            self._running.pop(job._token, None)
            self._cond.notify_all()

    # -- a job ------------------------------------------------------------------

    def _pool_loop(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            try:
                self._execute(job)
            except Exception:  # a bug here must not kill the pool thread
                self.log.exception("rota worker: job %d (%s): internal error", job.id, job.kind)
                self._forget(job)

    def _execute(self, job: Job) -> None:
        fn = self._fns.get(job.kind)
        self.log.info("rota worker: job %d (%s) attempt %d started", job.id, job.kind, job.attempt)
        outcome: Dict[str, Any]
        if fn is None:
            outcome = {"error": "this worker has no function for kind %r" % job.kind}
        else:
            try:
                result = fn(job)
            except RetryAfter as e:
                outcome = {"error": str(e), "retry_after": e.seconds}
            except Fail as e:
                outcome = {"error": str(e) or "failed", "final": True}
            except Snooze as e:
                outcome = {"snooze": e.seconds}
            except Exception as e:
                text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                if len(text) > MAX_ERROR_TEXT:
                    text = "...\n" + text[-MAX_ERROR_TEXT:]
                outcome = {"error": "%s: %s\n\n%s" % (type(e).__name__, e, text)}
            else:
                try:
                    json.dumps(result)
                    outcome = {"result": result}
                except (TypeError, ValueError) as e:
                    outcome = {"error": "the result is not JSON: %s" % e}
        with job._lock:
            state = job._state
            if state == _RUNNING:
                job._state = _FINISHING  # no more heartbeats
        if state != _RUNNING:
            self.log.warning("rota worker: job %d (%s) attempt %d ended after it was %s; its outcome is dropped",
                             job.id, job.kind, job.attempt, state)
            self._forget(job)
            return
        if job.abort_requested and "snooze" not in outcome:
            outcome = {"error": "aborted on request" + (": " + outcome["error"] if "error" in outcome else "")}
        try:
            self._finish(job, outcome)
        finally:
            self._forget(job)

    def _finish(self, job: Job, outcome: Dict[str, Any]) -> None:
        """Report a job's outcome, retrying passing failures until its lease
        ends.  An outcome the server refuses (a result over its body limit, a
        bad delay) becomes a plain failure that says so, rather than leaving
        the job to its lease's expiry."""
        delay = 0.2
        failures = 0
        while True:
            what, call = self._report(job, outcome)
            try:
                ended = call()
                self.log.info("rota worker: job %d (%s) attempt %d %s: now %s", job.id, job.kind, job.attempt,
                              what, ended.get("state"))
                return
            except LeaseLost:
                self.log.warning("rota worker: job %d (%s) attempt %d: lease lost; outcome dropped",
                                 job.id, job.kind, job.attempt)
                return
            except (BadRequest, TooLarge) as e:
                if outcome.get("plain"):
                    self.log.error("rota worker: job %d (%s): the server refused the outcome: %s", job.id, job.kind, e)
                    return
                outcome = _plain_failure("the server refused the outcome (%s): %s" % (what, e), outcome)
            except _TRANSIENT as e:
                failures += 1
                # A large body the server stops reading (over its limit) breaks the connection
                # instead of answering 413: when the server still answers a heartbeat, it was that.
                if ("result" in outcome and isinstance(e, ConnectionFailed) and failures >= 2
                        and self._still_ours(job)):
                    outcome = _plain_failure("the server did not take the result (%d bytes of JSON): %s"
                                             % (len(json.dumps(outcome["result"])), e), outcome)
                    continue
                if time.monotonic() + delay > job._expires:
                    self.log.error("rota worker: job %d (%s): could not report the outcome before the lease ended: %s",
                                   job.id, job.kind, e)
                    return
                self.log.warning("rota worker: job %d (%s): reporting the outcome failed (again in %.1fs): %s",
                                 job.id, job.kind, delay, e)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except APIError as e:
                self.log.error("rota worker: job %d (%s): the server refused the outcome: %s", job.id, job.kind, e)
                return

    def _report(self, job: Job, outcome: Dict[str, Any]) -> Tuple[str, Callable[[], Dict[str, Any]]]:
        """What the outcome is called in logs, and the call that reports it."""
        if "result" in outcome:
            return "done", lambda: self.client.complete(job._token, outcome["result"])
        if "snooze" in outcome:
            return "snoozed", lambda: self.client.snooze(job._token, outcome["snooze"])
        return "failed", lambda: self.client.fail(job._token, outcome["error"], retry_after=outcome.get("retry_after"),
                                                  final=outcome.get("final", False))

    def _still_ours(self, job: Job) -> bool:
        """Whether a heartbeat of job's lease succeeds now (extending it)."""
        try:
            self.client.heartbeat(job._token, self.lease)
        except (APIError, ConnectionFailed):
            return False
        job._expires = time.monotonic() + self.lease
        return True

    # -- heartbeats -------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        tick = min(1.0, self.lease / 6)
        while not self._closed.is_set():
            with self._cond:
                jobs = list(self._running.values())
            now = time.monotonic()
            for job in jobs:
                if job._state == _RUNNING and job._next_beat <= now:
                    self._beat(job)
            self._closed.wait(tick)

    def _beat(self, job: Job) -> None:
        sent = time.monotonic()
        try:
            answer = self.client.heartbeat(job._token, self.lease)
        except LeaseLost:
            with job._lock:
                if job._state != _RUNNING:
                    return  # it just ended here; the 409 is about that
                job._state = _LOST
            job.aborted.set()
            self.log.warning("rota worker: job %d (%s) attempt %d: lease lost (the job was taken away); "
                             "its result will be dropped", job.id, job.kind, job.attempt)
            return
        except (APIError, ConnectionFailed) as e:
            job._next_beat = time.monotonic() + min(1.0, self.lease / 6)
            self.log.warning("rota worker: job %d (%s): heartbeat failed: %s", job.id, job.kind, e)
            return
        job._next_beat = sent + self.lease / 3
        job._expires = sent + self.lease
        job.deadline = parse_time(answer.get("deadline")) or job.deadline
        if answer.get("abort_requested") and not job.abort_requested:
            job.abort_requested = True
            job.aborted.set()
            self.log.info("rota worker: job %d (%s): abort requested", job.id, job.kind)
