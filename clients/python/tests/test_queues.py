"""Queue limits, push, and pop (with complete_job and fail_job) through the
client against a real `rota serve`, which runs no worker of these kinds: the
jobs wait until a test pops them."""

import datetime
import unittest

from support import ServerTest, rota


class QueuesTest(ServerTest):
    def queue(self, suffix: str = "") -> str:
        """A queue of this test's own."""
        return "py-" + self.id().rsplit(".", 1)[-1].replace("_", "-") + ("-" + suffix if suffix else "")

    def test_update_queue_limits(self):
        c = self.server.client()
        q, kind = self.queue(), self.kind()
        got = c.update_queue(q, max_size=2, urgent_priority=1)
        self.assertEqual((got["name"], got["max_size"], got["urgent_priority"], got["paused"]), (q, 2, 1, False))
        c.push(q, kind, {"i": 0})
        c.push(q, kind, {"i": 1})
        with self.assertRaises(rota.TooManyRequests) as cm:
            c.push(q, kind, {"i": 2})
        self.assertEqual((cm.exception.status, cm.exception.code), (429, "queue_full"))
        self.assertEqual(c.push(q, kind, {"urgent": True}, priority=1)["priority"], 1, "urgent jobs pass a full queue")

        self.assertEqual(c.update_queue(q, max_size=0)["max_size"], 0)
        c.push(q, kind, {"i": 3})
        paused = c.update_queue(q, paused=True)
        self.assertEqual((paused["paused"], paused["max_size"], paused["urgent_priority"]), (True, 0, 1), "others stay")
        listed = {x["name"]: x for x in c.queues()}[q]
        self.assertEqual((listed["paused"], listed["counts"].get("queued")), (True, 4))
        self.assertEqual(c.update_queue(q, paused=False, urgent_priority=-1)["urgent_priority"], -1)

        # A queue without jobs yet can be capped.
        empty = c.update_queue(self.queue("empty"), max_size=1)
        self.assertEqual(empty["max_size"], 1)

        cases = [
            ("negative max_size", lambda: c.update_queue(q, max_size=-1), "max_size"),
            ("urgent_priority out of range", lambda: c.update_queue(q, urgent_priority=99999), "urgent_priority"),
            ("bad queue name", lambda: c.update_queue("bad queue!", max_size=1), "queue"),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.BadRequest) as cm:
                    call()
                self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (400, "invalid", field))
        with self.assertRaises(rota.BadRequest) as cm:
            c.update_queue(q)
        self.assertIn("nothing to change", str(cm.exception))
        self.assertEqual({x["name"]: x for x in c.queues()}[q]["urgent_priority"], -1, "a refused update changed it")

    def test_push(self):
        c = self.server.client()
        q, kind = self.queue(), self.kind()
        job = c.push(q, kind, {"n": 1}, priority=5, metadata={"org": "acme"}, delay=60, key="p-1")
        self.assertEqual((job["queue"], job["kind"], job["args"], job["priority"], job["state"], job["key"]),
                         (q, kind, {"n": 1}, 5, "scheduled", "p-1"))
        self.assertEqual(c.get(job["id"])["metadata"], {"org": "acme"})
        again = c.push(q, kind, {"n": 2}, key="p-1", on_conflict="return")
        self.assertEqual(again["id"], job["id"])
        cases = [
            ("priority", lambda: c.push(q, kind, priority=-5), "priority"),
            ("delay", lambda: c.push(q, kind, delay="soon"), "delay"),
            ("kind", lambda: c.push(q, "bad kind!"), "kind"),
            ("queue", lambda: c.push("bad queue!", kind), "queue"),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.BadRequest) as cm:
                    call()
                self.assertEqual((cm.exception.code, cm.exception.field), ("invalid", field))
        with self.assertRaises(TypeError):
            c.push(q, kind, queue="other")
        self.assertEqual([j["id"] for j in c.iter_jobs(kind=kind)], [job["id"]], "refused pushes stored jobs")

    def test_pop_with_filters_then_complete(self):
        c = self.server.client()
        q, kind, other = self.queue(), self.kind("a"), self.kind("b")
        x = c.push(q, kind, {"target": "x.example", "port": 80}, metadata={"org": "acme"})
        y = c.push(q, kind, {"target": "y.example", "port": 443}, metadata={"org": "beta"})
        z = c.push(q, other, {"target": "z.example"})

        by_metadata = c.pop(q, kinds=[kind], metadata={"org": "beta"})
        self.assertEqual((by_metadata["id"], by_metadata["state"], by_metadata["attempt"]), (y["id"], "running", 1))
        self.assertIn("lease_until", by_metadata)
        by_args = c.pop(q, kinds=kind, args={"target": "x.example", "port": 80})
        self.assertEqual(by_args["id"], x["id"])
        self.assertIsNone(c.pop(q, kinds=[kind]), "nothing of kind is left queued")
        self.assertIsNone(c.pop(q, args={"target": "nowhere"}))
        self.assertEqual(c.pop(q)["id"], z["id"], "no filter: any job of the queue")

        done = c.complete_job(y["id"], by_metadata["attempt"], {"open": [443]})
        self.assertEqual((done["state"], c.get(y["id"])["result"]), ("done", {"open": [443]}))
        with self.assertRaises(rota.Conflict) as cm:
            c.complete_job(y["id"], 1, {"again": True})
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (409, "conflict", "attempt"))
        self.assertEqual(c.complete_job(x["id"], 1)["state"], "done", "no result")
        self.assertEqual(c.complete_job(z["id"], 1, None)["state"], "done")

    def test_fail_job(self):
        c = self.server.client()
        q, kind = self.queue(), self.kind()
        now = datetime.datetime.now(datetime.timezone.utc)
        # (options, state, outcome of the attempt, error recorded, attempts counted)
        cases = [
            ("error, retried", {}, "retrying", "error", "refused", 1),
            ("retry_after", {"retry_after": datetime.timedelta(minutes=10)}, "scheduled", "retry_later", None, 0),
            ("permanent", {"permanent": True}, "error", "fail", "refused", 1),
            ("cancel", {"cancel": True}, "aborted", "cancel", "refused", 1),
        ]
        for name, kw, state, outcome, error, counted in cases:
            with self.subTest(name):
                pushed = c.push(q, kind, {"case": name})
                job = c.pop(q, kinds=kind)
                self.assertEqual(job["id"], pushed["id"])
                failed = c.fail_job(job["id"], job["attempt"], "refused", **kw)
                self.assertEqual(failed["state"], state)
                got = c.get(job["id"])
                self.assertEqual((got["attempt"], got["attempts"][-1]["outcome"], got["attempts"][-1].get("error")),
                                 (counted, outcome, error))
                if "retry_after" in kw:
                    self.assertGreater(rota.parse_time(failed["run_at"]), now + datetime.timedelta(minutes=9))
                with self.assertRaises(rota.Conflict):
                    c.fail_job(job["id"], job["attempt"], "twice")

    def test_pop_and_its_end_refuse_bad_input(self):
        c = self.server.client()
        q, kind = self.queue(), self.kind()
        job = c.push(q, kind, {})
        popped = c.pop(q, kinds=kind)
        cases = [
            ("wait not a duration", lambda: c.pop(q, wait="soon"), "wait"),
            ("wait too long", lambda: c.pop(q, wait=3600), "wait"),
            ("negative wait", lambda: c.pop(q, wait=-1), "wait"),
            ("empty kind", lambda: c.pop(q, kinds=[""]), "kinds"),
            ("attempt 0", lambda: c.complete_job(job["id"], 0), "attempt"),
            ("fail attempt 0", lambda: c.fail_job(job["id"], 0, "x"), "attempt"),
            ("two ways to fail", lambda: c.fail_job(job["id"], 1, "x", retry_after=5, permanent=True), "retry_after"),
            ("bad retry_after", lambda: c.fail_job(job["id"], 1, "x", retry_after="soon"), "retry_after"),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.BadRequest) as cm:
                    call()
                self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (400, "invalid", field))
        self.assertEqual(c.get(job["id"])["state"], "running", "refused requests ended the job")
        with self.assertRaises(rota.Conflict) as cm:
            c.complete_job(job["id"], 2)
        self.assertEqual(cm.exception.field, "attempt")
        with self.assertRaises(rota.NotFound) as cm:
            c.complete_job(10 ** 12, 1)
        self.assertEqual(cm.exception.field, "id")
        with self.assertRaises(TypeError):
            c.complete_job(str(job["id"]), 1)
        self.assertEqual(c.complete_job(job["id"], popped["attempt"])["state"], "done")

    def test_pop_waits_for_a_job(self):
        c = self.server.client(timeout=5)
        q, kind = self.queue(), self.kind()
        self.assertIsNone(c.pop(q, kinds=kind, wait=0.2), "an empty queue after the wait")
        # Due in a second: not there at the first try, so the pop waits
        # (long-polls) for it; the client's timeout is 5 s plus the wait.
        job = c.push(q, kind, {"later": True}, delay=1)
        self.assertEqual(job["state"], "scheduled")
        popped = c.pop(q, kinds=[kind], wait="20s")
        self.assertIsNotNone(popped, "the pop gave up before the job was due")
        self.assertEqual((popped["id"], popped["state"]), (job["id"], "running"))


if __name__ == "__main__":
    unittest.main()
