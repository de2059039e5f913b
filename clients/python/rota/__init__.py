"""rota: a client of rota's REST API and a remote worker, standard library only.

    import rota

    client = rota.Client("http://127.0.0.1:7700", token=None)
    job = client.enqueue("report.build", {"month": "2026-11"}, delay=60)
    client.get(job["id"])
    client.create_schedule("reports/nightly", "report.build", "daily at 02:00", zone="Europe/Amsterdam")
    for event in client.events(kind="report.build"):   # live, resumes by itself
        print(event.type, event.data)

    w = rota.Worker(client, concurrency=4)

    @w.kind("report.build")
    def build(job):
        return {"pages": 12}

    w.run()

See README.md next to this package.
"""

from .client import DEFAULT_TIMEOUT, Client, Lease, Page, SchedulePage, parse_time
from .errors import (APIError, BadRequest, Conflict, ConnectionFailed, Duplicate, Forbidden, LeaseLost, NotFound,
                     RotaError, ServerError, TooLarge, TooManyRequests, Unauthorized, Unavailable)
from .events import Event, EventStream
from .worker import (DEFAULT_CONCURRENCY, DEFAULT_GRACE, DEFAULT_LEASE, DEFAULT_WAIT, Fail, Job, RetryAfter, Snooze,
                     Worker)

__version__ = "0.1.0"

__all__ = [
    "Client", "Page", "SchedulePage", "Lease", "Event", "EventStream", "parse_time", "DEFAULT_TIMEOUT",
    "Worker", "Job", "RetryAfter", "Fail", "Snooze",
    "DEFAULT_CONCURRENCY", "DEFAULT_LEASE", "DEFAULT_WAIT", "DEFAULT_GRACE",
    "RotaError", "ConnectionFailed", "APIError", "BadRequest", "Unauthorized", "Forbidden", "NotFound",
    "Conflict", "Duplicate", "LeaseLost", "TooLarge", "TooManyRequests", "Unavailable", "ServerError",
]
