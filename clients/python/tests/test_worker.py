"""The lease protocol and rota.Worker against a real `rota serve`.

Skipped, saying so, when the server has no lease routes (POST /v1/leases
answers 404), unless ROTA_TEST_REQUIRE_LEASES=1.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from support import ROOT, WAIT, LeaseServerTest, Server, require_leases, rota, wait_for

EXAMPLE_WORKER = ROOT / "clients" / "python" / "examples" / "worker.py"


class LeaseProtocolTest(LeaseServerTest):
    def test_stale_token_is_refused_after_a_retry(self):
        c = self.server.client()
        kind = self.kind()
        job = c.enqueue(kind, {"n": 1})
        first = c.lease([kind], wait=5, lease=30, worker="pytest")
        self.assertEqual(len(first), 1)
        old = first[0]
        self.assertEqual(old.job["id"], job["id"])
        self.assertEqual(old.job["state"], "running")
        self.assertIsNotNone(old.deadline)
        self.assertNotIn(old.token, repr(old))
        beat = c.heartbeat(old.token)
        self.assertIs(beat["abort_requested"], False)

        failed = c.fail(old.token, "first try failed", retry_after=600)
        self.assertIn(failed["state"], ("retrying", "scheduled"))
        c.retry(job["id"])
        second = c.lease([kind], wait=5, lease=30)
        self.assertEqual(len(second), 1)
        new = second[0]
        self.assertNotEqual(new.token, old.token)
        self.assertEqual(new.job["attempt"], 2)

        stale = [
            ("heartbeat", lambda: c.heartbeat(old.token)),
            ("complete", lambda: c.complete(old.token, {"from": "old"})),
            ("fail", lambda: c.fail(old.token, "late")),
            ("snooze", lambda: c.snooze(old.token, 5)),
        ]
        for name, call in stale:
            with self.subTest(name):
                with self.assertRaises(rota.LeaseLost) as cm:
                    call()
                self.assertEqual((cm.exception.status, cm.exception.code), (409, "lease_lost"))
                self.assertIsInstance(cm.exception, rota.Conflict)
        got = c.get(job["id"])
        self.assertEqual((got["state"], got["attempt"]), ("running", 2), "a stale token changed the job")

        done = c.complete(new.token, {"from": "new"})
        self.assertEqual((done["state"], done["result"]), ("done", {"from": "new"}))
        with self.assertRaises(rota.LeaseLost):
            c.complete(new.token, {"from": "again"})

    def test_complete_many(self):
        c = self.server.client()
        kind = self.kind()
        ids = [c.enqueue(kind, {"n": i})["id"] for i in range(3)]
        leases = c.lease([kind], max=3, wait=5, worker="pytest")
        self.assertEqual(sorted(lease.job["id"] for lease in leases), sorted(ids))
        spent = leases[2]
        c.complete(spent.token)
        got = c.complete_many([(leases[0].token, {"n": 0}), leases[1].token, spent.token])
        self.assertEqual(len(got), 3)
        self.assertEqual((got[0]["id"], got[0]["state"]), (leases[0].job["id"], "done"))
        self.assertEqual((got[1]["id"], got[1]["state"]), (leases[1].job["id"], "done"))
        self.assertEqual(got[2]["id"], spent.job["id"])
        self.assertEqual((got[2]["error"]["code"], got[2]["error"]["field"]), ("lease_lost", "items[2].token"))
        self.assertEqual(c.get(leases[0].job["id"])["result"], {"n": 0})
        self.assertEqual(c.get(leases[1].job["id"])["state"], "done")
        with self.assertRaises(rota.BadRequest) as cm:
            c.complete_many([])
        self.assertEqual(cm.exception.field, "items")

    def test_bad_lease_requests(self):
        c = self.server.client()
        cases = [
            ("no kinds", lambda: c.lease([]), "kinds"),
            ("max 0", lambda: c.lease(["k"], max=0), "max"),
            ("lease too short", lambda: c.lease(["k"], lease=0.1), "lease"),
            ("malformed token", lambda: c.heartbeat(""), "token"),
            ("fail without error", lambda: c.fail("x" * 10, ""), None),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.APIError) as cm:
                    call()
                self.assertIn(cm.exception.status, (400, 409))
                if field:
                    self.assertEqual((cm.exception.status, cm.exception.field), (400, field))

    def test_empty_lease_within_wait(self):
        c = self.server.client()
        self.assertEqual(c.lease([self.kind()], wait=0.2), [])


class WorkerTest(LeaseServerTest):
    def test_runs_a_job_with_its_result(self):
        c = self.server.client()
        kind = self.kind()
        w = self.worker(queues=["default", "py-second"])

        @w.kind(kind)
        def double(job):
            return {"double": job.args["x"] * 2, "attempt": job.attempt, "queue": job.queue}

        self.start(w)
        a = c.enqueue(kind, {"x": 21})
        b = c.enqueue(kind, {"x": 2}, queue="py-second")
        got = self.wait_state(a["id"], "done")
        self.assertEqual(got["result"], {"double": 42, "attempt": 1, "queue": "default"})
        self.assertEqual([x["outcome"] for x in got["attempts"]], ["done"])
        self.assertEqual(got["attempts"][0]["node"], w.name, "the attempt does not name the worker")
        self.assertEqual(self.wait_state(b["id"], "done")["result"]["queue"], "py-second")

    def test_failing_job_is_retried(self):
        c = self.server.client()
        kind = self.kind()
        w = self.worker()

        @w.kind(kind)
        def flaky(job):
            if job.attempt == 1:
                raise ValueError("boom on attempt %d" % job.attempt)
            return "ok"

        self.start(w)
        job = c.enqueue(kind, {}, max_attempts=3)

        def failed_once():
            j = c.get(job["id"])
            return j["attempt"] >= 2 or (j["state"] == "retrying" and "boom" in j.get("last_error", ""))

        wait_for("the first attempt to fail", failed_once)
        try:
            c.retry(job["id"])  # do not wait for the backoff
        except rota.Conflict:
            pass  # the backoff was shorter than this test
        got = self.wait_state(job["id"], "done")
        self.assertEqual(got["attempt"], 2)
        first = got["attempts"][0]
        self.assertNotEqual(first["outcome"], "done")
        self.assertIn("ValueError: boom on attempt 1", first["error"])
        self.assertIn("Traceback", first["error"])
        self.assertEqual(got["result"], "ok")

    def test_retry_after_fail_and_snooze(self):
        c = self.server.client()
        seen = {"retry": [], "fail": [], "snooze": []}
        w = self.worker()

        @w.kind(self.kind("retry"))
        def retry(job):
            seen["retry"].append(job.attempt)
            if job.attempt == 1:
                raise rota.RetryAfter(0.2, "not yet")
            return "retried"

        @w.kind(self.kind("fail"))
        def fail(job):
            seen["fail"].append(job.attempt)
            raise rota.Fail("no such customer")

        @w.kind(self.kind("snooze"))
        def snooze(job):
            seen["snooze"].append(job.attempt)
            if len(seen["snooze"]) == 1:
                raise rota.Snooze(0.2)
            return "woke"

        self.start(w)
        r = c.enqueue(self.kind("retry"), {}, max_attempts=5)
        f = c.enqueue(self.kind("fail"), {}, max_attempts=5)
        s = c.enqueue(self.kind("snooze"), {}, max_attempts=5)

        got = self.wait_state(r["id"], "done")
        self.assertEqual((got["attempt"], got["result"], seen["retry"]), (2, "retried", [1, 2]))
        self.assertIn("not yet", got["attempts"][0]["error"])

        got = self.wait_state(f["id"], "error")
        self.assertEqual((got["attempt"], seen["fail"]), (1, [1]))
        self.assertIn("no such customer", got["last_error"])

        got = self.wait_state(s["id"], "done")
        self.assertEqual(got["result"], "woke")
        self.assertEqual(seen["snooze"], [1, 1], "a snooze counted as an attempt")

    def test_an_outcome_the_server_refuses_fails_the_attempt(self):
        c = self.server.client()
        kind = self.kind()
        w = self.worker()

        @w.kind(kind)
        def refused(job):
            if job.args["what"] == "huge result":
                return "x" * (2 << 20)  # over the server's 1 MiB body limit
            raise rota.RetryAfter(0)  # the protocol wants a delay > 0

        self.start(w)
        # Over its body limit the server answers 413, or stops reading and the connection breaks.
        cases = [("huge result", r"the server (refused the outcome \(done\): .*too_large|did not take the result)"),
                 ("zero retry_after", r"the server refused the outcome \(failed\): .*retry_after")]
        for what, want in cases:
            with self.subTest(what):
                job = c.enqueue(kind, {"what": what}, max_attempts=1)
                got = self.wait_state(job["id"], "error")
                self.assertRegex(got["last_error"], want)
                self.assertEqual(got["attempts"][0]["outcome"], "error")

    def test_abort_is_seen_at_a_heartbeat(self):
        c = self.server.client()
        kind = self.kind()
        started = threading.Event()
        seen = {}
        w = self.worker(lease=1.5)

        @w.kind(kind)
        def long(job):
            started.set()
            seen["stopped"] = job.aborted.wait(WAIT)
            seen["abort_requested"] = job.abort_requested
            seen["lost"] = job.lost
            return "ignored"

        self.start(w)
        job = c.enqueue(kind, {})
        wait_for("the job to start", started.is_set)
        c.abort(job["id"], reason="user cancelled")
        got = self.wait_state(job["id"], "aborted")
        self.assertEqual(seen, {"stopped": True, "abort_requested": True, "lost": False})
        self.assertNotEqual(got.get("result"), "ignored")

    def test_lost_lease_drops_the_result(self):
        c = self.server.client()
        kind = self.kind()
        leased = {}
        finished = threading.Event()
        w = self.worker(lease=1.5)

        @w.kind(kind)
        def slow(job):
            leased["token"] = job.lease_token
            stopped = job.aborted.wait(WAIT)
            leased.update(stopped=stopped, lost=job.lost, abort_requested=job.abort_requested)
            finished.set()
            return {"from": "worker"}

        self.start(w)
        job = c.enqueue(kind, {})
        wait_for("the job to start", lambda: "token" in leased)
        # Someone else ends this attempt: the worker's next heartbeat is refused.
        with self.assertLogs("rota.worker", logging.WARNING) as logs:
            c.complete(leased["token"], {"from": "test"})
            wait_for("the function to return", finished.is_set)
            wait_for("the worker to drop the outcome", lambda: any("dropped" in m for m in logs.output))
        self.assertEqual(leased, {"token": leased["token"], "stopped": True, "lost": True, "abort_requested": False})
        got = c.get(job["id"])
        self.assertEqual((got["state"], got["result"]), ("done", {"from": "test"}))
        self.assertTrue(any("lease lost" in m for m in logs.output), logs.output)

    def test_concurrency(self):
        c = self.server.client()
        kind = self.kind()
        n = 3
        barrier = threading.Barrier(n, timeout=WAIT)
        lock = threading.Lock()
        state = {"now": 0, "peak": 0}
        w = self.worker(concurrency=n)

        @w.kind(kind)
        def together(job):
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            try:
                barrier.wait()  # passes only when n jobs run at once
            finally:
                with lock:
                    state["now"] -= 1
            return job.id

        self.start(w)
        ids = [j["id"] for j in c.enqueue_batch([{"kind": kind, "args": {"i": i}} for i in range(2 * n)])]
        for i in ids:
            self.assertEqual(self.wait_state(i, "done")["result"], i)
        self.assertEqual(state["peak"], n)

    def test_stop_lets_running_jobs_finish_and_leases_no_more(self):
        c = self.server.client()
        kind = self.kind()
        started, release = threading.Event(), threading.Event()
        calls = []
        w = self.worker(grace=WAIT)

        @w.kind(kind)
        def work(job):
            calls.append(job.id)
            started.set()
            release.wait(WAIT)
            return "finished"

        t = self.start(w)
        a = c.enqueue(kind, {})
        wait_for("the job to start", started.is_set)
        w.stop()
        b = c.enqueue(kind, {})
        release.set()
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertEqual(c.get(a["id"])["state"], "done")
        self.assertEqual(calls, [a["id"]])
        self.assertIn(c.get(b["id"])["state"], ("queued", "scheduled"))

    def test_jobs_still_running_after_the_grace_are_given_back(self):
        c = self.server.client()
        kind = self.kind()
        started = threading.Event()
        seen = []
        w = self.worker(grace=0.2)

        @w.kind(kind)
        def stuck(job):
            started.set()
            seen.append(("first", job.attempt, job.aborted.wait(WAIT)))
            return "dropped"

        t = self.start(w)
        job = c.enqueue(kind, {})
        wait_for("the job to start", started.is_set)
        w.stop()
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        wait_for("the function to see it was stopped", lambda: len(seen) == 1)
        self.assertEqual(seen, [("first", 1, True)])
        got = c.get(job["id"])
        self.assertIn(got["state"], ("scheduled", "queued"))

        again = self.worker()
        again.register(kind, lambda job: {"attempt": job.attempt})
        self.start(again)
        got = self.wait_state(job["id"], "done")
        self.assertEqual(got["result"], {"attempt": 1}, "the given-back run counted as an attempt")

    def test_example_worker_stops_gracefully_on_sigterm(self):
        c = self.server.client()
        kind = self.kind()
        flag = os.path.join(tempfile.mkdtemp(prefix="rota-pytest-"), "go")
        proc = subprocess.Popen([sys.executable, str(EXAMPLE_WORKER), "--server", self.server.url, "--kind", kind,
                                 "--wait", "0.5", "--lease", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        job = c.enqueue(kind, {"wait_file": flag})
        line = proc.stdout.readline()
        self.assertEqual(line.split(), ["started", str(job["id"]), "1"])
        proc.send_signal(signal.SIGTERM)
        open(flag, "w").close()
        _, err = proc.communicate(timeout=WAIT)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("stopping", err)
        got = c.get(job["id"])
        self.assertEqual((got["state"], got["result"]["attempt"]), ("done", 1))



    def test_a_second_signal_stops_without_waiting(self):
        c = self.server.client()
        kind = self.kind()
        never = os.path.join(tempfile.mkdtemp(prefix="rota-pytest-"), "never")
        proc = subprocess.Popen([sys.executable, str(EXAMPLE_WORKER), "--server", self.server.url, "--kind", kind,
                                 "--wait", "0.5", "--lease", "3", "--grace", "600"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        job = c.enqueue(kind, {"wait_file": never})
        self.assertEqual(proc.stdout.readline().split(), ["started", str(job["id"]), "1"])
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:  # one signal at a time: a second one sent at once could merge with the first
            if "stopping; running jobs get 600s" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("given back", err)
        got = c.get(job["id"])
        self.assertIn(got["state"], ("scheduled", "queued"))
        self.assertEqual(got["attempt"], 0, "the given-back attempt counted")

class WorkerAuthTest(LeaseServerTest):
    secret_write = "py-worker-write-0123456789"
    secret_read = "py-worker-read-0123456789"
    server_env = {"ROTA_TOKENS": "pww:write:%s,pwr:read:%s" % (secret_write, secret_read)}

    def test_a_token_refused_for_good_ends_run(self):
        cases = [("no token", None, rota.Unauthorized), ("read token", self.secret_read, rota.Forbidden)]
        for name, token, exc in cases:
            with self.subTest(name):
                w = rota.Worker(self.server.client(token), wait=0.5)
                w.register(self.kind(), lambda job: None)
                with self.assertRaises(exc):
                    w.run(handle_signals=False)

        c = self.server.client(self.secret_write)
        w = rota.Worker(c, wait=0.5)
        w.register(self.kind(), lambda job: "with a token")
        self.start(w)
        job = c.enqueue(self.kind(), {})
        wait_for("the job to be done", lambda: c.get(job["id"])["state"] == "done")
        self.assertEqual(c.get(job["id"])["result"], "with a token")


class WorkerBeforeServerTest(unittest.TestCase):
    start = LeaseServerTest.start

    def test_worker_waits_for_the_server(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = "http://127.0.0.1:%d" % port
        w = rota.Worker(rota.Client(url, timeout=5), wait=0.5, lease=3)
        w.register("py.before-server", lambda job: {"late": True})
        with self.assertLogs("rota.worker", logging.WARNING) as logs:
            self.start(w)
            wait_for("a failed lease request", lambda: any("lease request failed" in m for m in logs.output))
        self.assertIn("cannot reach the server", "\n".join(logs.output))
        server = Server({"ROTA_LISTEN": "127.0.0.1:%d" % port})
        self.addCleanup(server.stop)
        require_leases(server)
        c = server.client()
        job = c.enqueue("py.before-server", {})
        wait_for("the job to be done", lambda: c.get(job["id"])["state"] == "done")
        self.assertEqual(c.get(job["id"])["result"], {"late": True})


if __name__ == "__main__":
    unittest.main()
