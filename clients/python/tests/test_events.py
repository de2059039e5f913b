"""Live events (GET /v1/events) against a real `rota serve`: filters, gaps,
closing, and resuming after a dropped connection (cut by a proxy, or by a
restart of the server) without losing or repeating events."""

import socket
import threading
import unittest
from typing import List

from support import WAIT, Proxy, Server, ServerTest, rota, wait_for


def take(stream: rota.EventStream, n: int, timeout: float = WAIT) -> List[rota.Event]:
    """The next n events of stream (gaps included); fails after timeout
    (closing the stream, which ends the wait)."""
    timer = threading.Timer(timeout, stream.close)
    timer.daemon = True
    timer.start()
    got: List[rota.Event] = []
    try:
        for event in stream:
            got.append(event)
            if len(got) == n:
                break
    finally:
        timer.cancel()
    if len(got) < n:
        raise AssertionError("timed out after %gs with %d of %d events: %r" % (timeout, len(got), n, got))
    return got


def job_ids(events: List[rota.Event]) -> List[int]:
    return [e.data["job_id"] for e in events]


class EventsTest(ServerTest):
    def stream(self, client: rota.Client = None, **kw) -> rota.EventStream:
        kw.setdefault("reconnect_delay", 0.05)
        s = (client or self.server.client()).events(**kw)
        self.addCleanup(s.close)
        return s

    def check_order(self, events: List[rota.Event]) -> None:
        ids = [e.id for e in events]
        self.assertEqual(ids, sorted(set(ids)), "event ids not increasing, or repeated")
        for e in events:
            if e.type == "job":
                self.assertEqual(e.data["id"], e.id)

    def test_filters(self):
        c = self.server.client()
        k1, k2, k3 = self.kind("a"), self.kind("b"), self.kind("c")
        q = "py-events-q"
        by_kind = self.stream(kind=[k1, k2])
        by_metadata = self.stream(kind=[k1, k2], metadata={"org": "x"})
        by_queue = self.stream(kind="%s,%s" % (k1, k2), queue=q)
        by_key = self.stream(kind=[k1, k2], key="kk")
        a = c.enqueue(k1, {}, metadata={"org": "x", "team": "t"})
        b = c.enqueue(k2, {}, queue=q)
        d = c.enqueue(k3, {}, queue=q, key="kk", metadata={"org": "x"})  # no stream's kind
        k = c.enqueue(k1, {}, key="kk", delay=600)
        for job in (a, b, k):
            c.abort(job["id"])
        c.abort(d["id"])

        got = take(by_kind, 6)
        self.check_order(got)
        self.assertEqual(job_ids(got), [a["id"], b["id"], k["id"]] * 2)
        self.assertEqual([(e.type, e.data["from"], e.data["to"]) for e in got[:3]],
                         [("job", "", "queued"), ("job", "", "queued"), ("job", "", "scheduled")])
        self.assertEqual({e.data["to"] for e in got[3:]}, {"aborted"})
        self.assertEqual((got[0].data["kind"], got[0].data["metadata"], got[0].data["node"]),
                         (k1, {"org": "x", "team": "t"}, "pytest"))
        self.assertEqual(by_kind.last_event_id, got[-1].id)
        # Each narrower stream sees its one job queued, then aborted: the
        # next event after the first is the abort, so nothing else came.
        for name, stream, job in (("metadata", by_metadata, a), ("queue", by_queue, b), ("key", by_key, k)):
            with self.subTest(name):
                got = take(stream, 2)
                self.assertEqual(job_ids(got), [job["id"]] * 2)
                self.assertEqual(got[1].data["to"], "aborted")

    def test_resume_after_a_dropped_connection(self):
        c = self.server.client()
        kind = self.kind()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        stream = self.stream(rota.Client(proxy.url, timeout=10), kind=kind)
        first = [c.enqueue(kind, {"i": i})["id"] for i in range(3)]
        got = take(stream, 3)
        self.assertEqual(job_ids(got), first)

        # The connection drops; jobs are enqueued while the stream is away.
        self.assertEqual(proxy.drop(), 1)
        missed = [c.enqueue(kind, {"i": i})["id"] for i in range(3, 6)]
        more = take(stream, 3)
        self.assertEqual(job_ids(more), missed)
        self.assertEqual(stream.reconnects, 1)
        self.assertEqual(proxy.accepted, 2)

        # Cut in the middle of an event: its id and type arrived, not its
        # data. It was not passed on, so it comes again, once, whole.
        proxy.cut_in_next_event()
        cut = [c.enqueue(kind, {"i": i})["id"] for i in range(6, 8)]
        after = take(stream, 2)
        self.assertEqual(proxy.cuts, 1)
        self.assertEqual(job_ids(after), cut)
        self.assertEqual(stream.reconnects, 2)
        self.check_order(got + more + after)

        # Nothing more was waiting (no event twice): the next is a new job's.
        marker = c.enqueue(kind, {"marker": True})["id"]
        self.assertEqual(job_ids(take(stream, 1)), [marker])

    def test_drop_before_the_first_event(self):
        # A stream from now that has passed on no event yet still resumes
        # from where it started: the server tells it its position at once.
        c = self.server.client()
        kind = self.kind()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        stream = self.stream(rota.Client(proxy.url, timeout=10), kind=kind)
        self.assertEqual(proxy.drop(), 1)
        missed = [c.enqueue(kind, {"i": i})["id"] for i in range(2)]
        # Both are in the log before the stream reconnects.
        self.assertEqual(job_ids(take(self.stream(kind=kind, last_event_id=0), 2)), missed)
        self.assertEqual(job_ids(take(stream, 2)), missed)
        self.assertEqual(stream.reconnects, 1)

    def test_resume_in_a_new_stream(self):
        # A consumer that stops keeps last_event_id and starts after it later.
        c = self.server.client()
        kind = self.kind()
        with self.stream(kind=kind) as first:
            before = [c.enqueue(kind, {})["id"] for _ in range(2)]
            self.assertEqual(job_ids(take(first, 2)), before)
            last = first.last_event_id
        self.assertTrue(first.closed)
        self.assertEqual(list(first), [], "a closed stream yields nothing")
        missed = [c.enqueue(kind, {})["id"] for _ in range(3)]
        again = self.stream(kind=kind, last_event_id=last)
        got = take(again, 3)
        self.assertEqual(job_ids(got), missed)
        self.assertTrue(all(e.id > last for e in got))
        self.assertEqual(again.reconnects, 0)

    def test_a_silent_connection_is_replaced(self):
        # No byte for idle_timeout (the server's heartbeat comes every 15 s):
        # the stream counts the connection as dead and reconnects.
        c = self.server.client()
        kind = self.kind()
        stream = self.stream(kind=kind, idle_timeout=0.3)
        got = []
        t = threading.Thread(target=lambda: got.extend(take(stream, 1)), daemon=True)
        t.start()
        wait_for("a reconnection after a silence", lambda: stream.reconnects >= 2)
        job = c.enqueue(kind, {})["id"]
        t.join(WAIT)
        self.assertEqual(job_ids(got), [job])

    def test_unknown_id_is_a_gap(self):
        c = self.server.client()
        kind = self.kind()
        stream = self.stream(kind=kind, last_event_id=10 ** 12)
        gap = take(stream, 1)[0]
        self.assertEqual((gap.type, gap.data["reason"], gap.data["after"]), ("gap", "unknown_id", 10 ** 12))
        self.assertEqual(stream.last_event_id, gap.id)
        job = c.enqueue(kind, {})
        event = take(stream, 1)[0]
        self.assertEqual((event.type, event.data["job_id"]), ("job", job["id"]))
        self.assertGreater(event.id, gap.id)

    def test_close_from_another_thread(self):
        kind = self.kind()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        cases = [
            ("waiting for data", lambda s: None),
            # A dropped connection and a long reconnect delay: close ends the wait.
            ("waiting to reconnect", lambda s: proxy.drop()),
        ]
        for name, before in cases:
            with self.subTest(name):
                stream = rota.Client(proxy.url).events(kind=kind, reconnect_delay=3600)
                got, errors = [], []

                def consume():
                    try:
                        got.extend(stream)
                    except BaseException as e:  # shown below
                        errors.append(e)

                t = threading.Thread(target=consume, daemon=True)
                t.start()
                before(stream)
                self.assertTrue(t.is_alive(), "the stream ended by itself")
                stream.close()
                t.join(WAIT)
                self.assertFalse(t.is_alive(), "the stream did not end on close")
                self.assertEqual((got, errors), ([], []))
                self.assertTrue(stream.closed)
                wait_for("the proxied connection to end", lambda: proxy.open() == 0)

    def test_close_ends_the_iteration_and_the_connection(self):
        c = self.server.client()
        kind = self.kind()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        stream = rota.Client(proxy.url).events(kind=kind)
        c.enqueue(kind, {})
        c.enqueue(kind, {})
        for event in stream:
            self.assertEqual(event.type, "job")
            break
        self.assertEqual(proxy.open(), 1)
        stream.close()
        wait_for("the connection to end", lambda: proxy.open() == 0)
        with self.assertRaises(StopIteration):
            next(stream)
        stream.close()  # again: nothing happens

    def test_without_reconnect_a_drop_raises(self):
        kind = self.kind()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        stream = self.stream(rota.Client(proxy.url), kind=kind, reconnect=False)
        proxy.drop()
        with self.assertRaises(rota.ConnectionFailed) as cm:
            next(stream)
        self.assertIn("/v1/events", str(cm.exception))

    def test_bad_input_names_the_field(self):
        c = self.server.client()
        cases = [
            ("metadata without =", lambda: c.events(metadata={"": "x"}), "metadata"),
            ("negative id", lambda: c.events(last_event_id=-1), "last_event_id"),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.BadRequest) as cm:
                    call()
                self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (400, "invalid", field))
        for name, call, exc in [
            ("string id", lambda: c.events(last_event_id="5"), TypeError),
            ("bool id", lambda: c.events(last_event_id=True), TypeError),
            ("idle timeout", lambda: c.events(idle_timeout=0), ValueError),
        ]:
            with self.subTest(name):
                with self.assertRaises(exc):
                    call()

    def test_unreachable_server(self):
        with socket.socket() as s:  # a port nobody listens on: bound, never listening
            s.bind(("127.0.0.1", 0))
            c = rota.Client("http://127.0.0.1:%d" % s.getsockname()[1], timeout=5)
            with self.assertRaises(rota.ConnectionFailed) as cm:
                c.events()
        self.assertIsInstance(cm.exception.cause, OSError)
        self.assertIn("/v1/events", str(cm.exception))


class EventsSlotsTest(ServerTest):
    """A reconnection refused with 429 (every stream slot taken) is retried."""

    server_env = {"ROTA_HTTP_MAX_EVENT_STREAMS": "1"}

    def test_reconnect_waits_for_a_slot(self):
        c = self.server.client()
        kind = self.kind()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        stream = rota.Client(proxy.url).events(kind=kind, reconnect_delay=0.05)
        self.addCleanup(stream.close)
        with self.assertRaises(rota.TooManyRequests) as cm:
            c.events()
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "too_many_streams"))

        # The stream's connection drops, and another client takes the slot.
        proxy.drop()
        other = []

        def take_slot():
            try:
                other.append(c.events())
                return True
            except rota.TooManyRequests:
                return False

        wait_for("the dropped stream's slot to be free", take_slot)
        got = []
        t = threading.Thread(target=lambda: got.extend(take(stream, 1)), daemon=True)
        t.start()
        wait_for("refused reconnections", lambda: proxy.accepted >= 3)
        self.assertEqual(stream.reconnects, 0)
        other[0].close()
        job = c.enqueue(kind, {})["id"]
        t.join(WAIT)
        self.assertEqual(job_ids(got), [job])
        self.assertEqual(stream.reconnects, 1)


class EventsRestartTest(unittest.TestCase):
    """A stream resumes across a restart of `rota serve` (same store, same address)."""

    def test_resume_across_a_restart(self):
        server = Server()
        self.addCleanup(server.stop)
        c = server.client()
        kind = "py.restart"
        stream = c.events(kind=kind, reconnect_delay=0.1)
        self.addCleanup(stream.close)
        first = c.enqueue(kind, {"n": 1})["id"]
        self.assertEqual(job_ids(take(stream, 1)), [first])
        # Changed just before the restart, while the stream is not being read.
        before = c.enqueue(kind, {"n": 2})["id"]
        server.restart()
        after = [server.client().enqueue(kind, {"n": n})["id"] for n in (3, 4)]
        got = take(stream, 3)
        self.assertEqual(job_ids(got), [before] + after)
        self.assertGreaterEqual(stream.reconnects, 1)
        self.assertEqual([e.id for e in got], sorted({e.id for e in got}))


class EventsAuthTest(ServerTest):
    secret = "py-events-read-secret-0123456789"
    writer = "py-events-write-secret-0123456789"
    server_env = {"ROTA_TOKENS": "r:read:%s,w:write:%s" % (secret, writer)}

    def test_tokens(self):
        kind = self.kind()
        with self.assertRaises(rota.Unauthorized):
            self.server.client().events()
        with self.assertRaises(rota.Unauthorized):
            self.server.client("not-a-known-token-0123456789").events()
        proxy = Proxy(self.server.url)
        self.addCleanup(proxy.close)
        stream = rota.Client(proxy.url, token=self.secret).events(kind=kind, reconnect_delay=0.05)
        self.addCleanup(stream.close)
        self.assertNotIn(self.secret, repr(stream))
        w = self.server.client(self.writer)
        one = w.enqueue(kind, {})["id"]
        self.assertEqual(job_ids(take(stream, 1)), [one])
        proxy.drop()  # the reconnection sends the token too
        two = w.enqueue(kind, {})["id"]
        self.assertEqual(job_ids(take(stream, 1)), [two])
        self.assertEqual(stream.reconnects, 1)


if __name__ == "__main__":
    unittest.main()
