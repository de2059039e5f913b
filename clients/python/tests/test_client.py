"""The client against a real `rota serve`: enqueue, get, list, actions, errors."""

import datetime
import socket
import unittest

from support import ServerTest, rota


class ClientTest(ServerTest):
    def test_enqueue_with_options_and_get(self):
        c = self.server.client()
        kind = self.kind()
        run_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
        cases = [
            ("plain", {}, {"state": "queued", "queue": "default", "args": {"n": 1}}),
            ("queue and priority", {"queue": "reports", "priority": 7}, {"queue": "reports", "priority": 7}),
            ("delay in seconds", {"delay": 3600}, {"state": "scheduled"}),
            ("delay as timedelta", {"delay": datetime.timedelta(minutes=5)}, {"state": "scheduled"}),
            ("delay as string", {"delay": "1h30m"}, {"state": "scheduled"}),
            ("run_at datetime", {"run_at": run_at}, {"state": "scheduled"}),
            ("hold", {"hold": True}, {"state": "ready"}),
            ("metadata", {"metadata": {"team": "blue"}}, {"metadata": {"team": "blue"}}),
            ("max_attempts and timeout", {"max_attempts": 4, "timeout": 90}, {"max_attempts": 4, "timeout": "1m30s"}),
            ("key", {"key": "k-1"}, {"key": "k-1"}),
        ]
        for name, opts, want in cases:
            with self.subTest(name):
                job = c.enqueue(kind, {"n": 1}, **opts)
                self.assertIsInstance(job["id"], int)
                self.assertEqual(job["kind"], kind)
                for field, value in want.items():
                    self.assertEqual(job[field], value, field)
                got = c.get(job["id"])
                self.assertEqual(got["id"], job["id"])
                self.assertEqual(got["attempts"], [])
                if name == "run_at datetime":
                    self.assertEqual(rota.parse_time(got["run_at"]).replace(microsecond=0), run_at.replace(microsecond=0))

    def test_key_conflict_policies(self):
        c = self.server.client()
        kind = self.kind()
        first = c.enqueue(kind, {"v": 1}, key="same")
        again = c.enqueue(kind, {"v": 2}, key="same", on_conflict="return")
        self.assertEqual(again["id"], first["id"])
        with self.assertRaises(rota.Duplicate) as cm:
            c.enqueue(kind, {"v": 3}, key="same", on_conflict="reject")
        e = cm.exception
        self.assertIsInstance(e, rota.Conflict)
        self.assertEqual((e.status, e.code), (409, "duplicate"))
        self.assertEqual(len(list(c.iter_jobs(kind=kind))), 1)

    def test_bad_input_names_the_field_and_stores_nothing(self):
        c = self.server.client()
        kind = self.kind()
        cases = [
            ("priority out of range", lambda: c.enqueue(kind, priority=99999), "priority"),
            ("bad conflict policy", lambda: c.enqueue(kind, key="k", on_conflict="merge"), "on_conflict"),
            ("bad duration", lambda: c.enqueue(kind, delay="soon"), "delay"),
            ("bad run_at", lambda: c.enqueue(kind, run_at="tomorrow"), "run_at"),
            ("bad kind", lambda: c.enqueue("bad kind!"), "kind"),
            ("bad list state", lambda: c.list(state="sleeping"), "state"),
            ("bad list limit", lambda: c.list(limit=0), "limit"),
            ("bad cursor", lambda: c.list(cursor="nope"), "cursor"),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.BadRequest) as cm:
                    call()
                e = cm.exception
                self.assertEqual((e.status, e.code, e.field), (400, "invalid", field))
                self.assertIn(field, str(e))
        self.assertEqual(c.list(kind=kind).jobs, [])

    def test_batch_is_all_or_nothing(self):
        c = self.server.client()
        kind = self.kind()
        with self.assertRaises(rota.BadRequest) as cm:
            c.enqueue_batch([
                {"kind": kind, "args": {"i": 0}},
                {"kind": kind, "args": {"i": 1}, "delay": 10},
                {"kind": kind, "args": {"i": 2}, "priority": -5},
            ])
        self.assertEqual(cm.exception.field, "jobs[2].priority")
        self.assertEqual(c.list(kind=kind).jobs, [], "a refused batch stored jobs")

        jobs = c.enqueue_batch([{"kind": kind, "args": {"i": i}, "metadata": {"batch": "b1"}} for i in range(3)])
        self.assertEqual([j["args"]["i"] for j in jobs], [0, 1, 2])
        self.assertEqual(len(c.list(kind=kind, metadata={"batch": "b1"}).jobs), 3)
        with self.assertRaises(ValueError):
            c.enqueue_batch([{"args": {}}])
        with self.assertRaises(TypeError):
            c.enqueue_batch([{"kind": kind, "colour": "red"}])

    def test_list_filters_and_pages(self):
        c = self.server.client()
        kind, other = self.kind("a"), self.kind("b")
        ids = [c.enqueue(kind, {"i": i}, metadata={"i": str(i % 2)})["id"] for i in range(7)]
        c.enqueue(other, {})
        held = c.enqueue(kind, {"held": True}, hold=True)["id"]

        page = c.list(kind=kind, limit=3)
        self.assertEqual(len(page.jobs), 3)
        self.assertIsNotNone(page.next)
        self.assertEqual([j["id"] for j in page.jobs], [held] + ids[::-1][:2], "newest first")

        every = list(c.iter_jobs(kind=kind, limit=2, order="asc"))
        self.assertEqual([j["id"] for j in every], ids + [held])
        self.assertEqual({j["id"] for j in c.iter_jobs(kind=[kind, other])} >= set(ids), True)
        self.assertEqual(len(list(c.iter_jobs(kind=[kind, other]))), 9)
        self.assertEqual([j["id"] for j in c.iter_jobs(kind=kind, state="ready")], [held])
        self.assertEqual(sorted(j["id"] for j in c.iter_jobs(kind=kind, metadata={"i": "1"})), ids[1::2])
        since = rota.parse_time(c.get(ids[3])["created_at"])
        self.assertEqual({j["id"] for j in c.iter_jobs(kind=kind, created_from=since)} >= set(ids[3:]), True)
        last = c.list(kind=kind, limit=100)
        self.assertIsNone(last.next)

    def test_actions(self):
        c = self.server.client()
        kind = self.kind()
        held = c.enqueue(kind, {}, hold=True)
        self.assertEqual(c.release(held["id"])["state"], "queued")
        with self.assertRaises(rota.Conflict) as cm:
            c.release(held["id"])
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "conflict"))

        aborted = c.abort(held["id"], reason="not needed")
        self.assertEqual(aborted["state"], "aborted")
        with self.assertRaises(rota.Conflict):
            c.abort(held["id"])
        self.assertEqual(c.retry(held["id"])["state"], "queued")

        keyed = c.enqueue(kind, {}, key="abort-me", delay=600)
        self.assertEqual(c.abort_key(kind, "abort-me")["id"], keyed["id"])
        with self.assertRaises(rota.NotFound):
            c.abort_key(kind, "no-such-key")

        deleted = c.enqueue(kind, {}, delay=600)
        c.delete(deleted["id"])
        with self.assertRaises(rota.NotFound) as cm:
            c.get(deleted["id"])
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (404, "not_found", "id"))

    def test_queues_stats_nodes_kinds(self):
        c = self.server.client()
        kind = self.kind()
        queue = "py-stats"
        c.enqueue(kind, {}, queue=queue, delay=600)
        c.enqueue(kind, {}, queue=queue)
        qs = {q["name"]: q for q in c.queues()}
        self.assertIn(queue, qs)
        self.assertEqual(qs[queue]["counts"].get("scheduled"), 1)
        self.assertEqual(qs[queue]["counts"].get("queued"), 1)
        self.assertEqual(c.pause_queue(queue)["paused"], True)
        self.assertEqual(c.resume_queue(queue)["paused"], False)
        stats = c.stats(hours=1)
        self.assertEqual(stats["by_kind"][kind].get("queued"), 1)
        self.assertEqual(stats["by_queue"][queue].get("scheduled"), 1)
        self.assertIn("pytest", [n["id"] for n in c.nodes()])
        self.assertIsInstance(c.kinds(), list)

    def test_token_is_hidden(self):
        c = rota.Client(self.server.url, token="very-secret-token-0123456789")
        self.assertNotIn("very-secret", repr(c))
        self.assertIn("<hidden>", repr(c))

    def test_unreachable_server(self):
        with socket.socket() as s:  # a port nobody listens on: bound, never listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            c = rota.Client("http://127.0.0.1:%d" % port, timeout=5)
            with self.assertRaises(rota.ConnectionFailed) as cm:
                c.get(1)
        e = cm.exception
        self.assertIsInstance(e, rota.RotaError)
        self.assertNotIsInstance(e, rota.APIError)
        self.assertIn("cannot reach the server", str(e))
        self.assertIsInstance(e.cause, OSError)

    def test_argument_checks(self):
        c = self.server.client()
        cases = [
            ("naive datetime", lambda: c.enqueue("k", run_at=datetime.datetime(2030, 1, 1)), ValueError),
            ("bool duration", lambda: c.enqueue("k", delay=True), TypeError),
            ("string id", lambda: c.get("1"), TypeError),
            ("bad url", lambda: rota.Client("localhost:7700"), ValueError),
        ]
        for name, call, exc in cases:
            with self.subTest(name):
                with self.assertRaises(exc):
                    call()

    def test_parse_time(self):
        cases = [
            ("2026-12-01T20:47:07Z", datetime.datetime(2026, 12, 1, 20, 47, 7, tzinfo=datetime.timezone.utc)),
            ("2026-12-01T20:47:07.123456789Z",
             datetime.datetime(2026, 12, 1, 20, 47, 7, 123456, tzinfo=datetime.timezone.utc)),
            ("2026-12-01T21:47:07.5+01:00",
             datetime.datetime(2026, 12, 1, 20, 47, 7, 500000, tzinfo=datetime.timezone.utc)),
        ]
        for text, want in cases:
            with self.subTest(text):
                self.assertEqual(rota.parse_time(text), want)
        self.assertIsNone(rota.parse_time(""))


class AuthTest(ServerTest):
    secret_write = "py-write-secret-0123456789"
    secret_read = "py-read-secret-0123456789"
    server_env = {"ROTA_TOKENS": "pyw:write:%s,pyr:read:%s" % (secret_write, secret_read)}

    def test_tokens_and_roles(self):
        kind = self.kind()
        anonymous = self.server.client()
        reader = self.server.client(self.secret_read)
        writer = self.server.client(self.secret_write)
        wrong = self.server.client("not-a-known-token-0123456789")
        cases = [
            ("no token", anonymous, rota.Unauthorized, 401, "unauthorized"),
            ("unknown token", wrong, rota.Unauthorized, 401, "unauthorized"),
            ("read token", reader, rota.Forbidden, 403, "forbidden"),
        ]
        for name, client, exc, status, code in cases:
            with self.subTest(name):
                with self.assertRaises(exc) as cm:
                    client.enqueue(kind, {})
                self.assertEqual((cm.exception.status, cm.exception.code), (status, code))
                self.assertNotIn("secret", str(cm.exception))
        job = writer.enqueue(kind, {})
        self.assertEqual(reader.get(job["id"])["id"], job["id"])
        with self.assertRaises(rota.Unauthorized):
            anonymous.get(job["id"])
        self.assertEqual([j["id"] for j in reader.iter_jobs(kind=kind)], [job["id"]])
        self.assertNotIn(self.secret_write, repr(writer))
        for line in self.server.logs:
            self.assertNotIn(self.secret_write, line)


if __name__ == "__main__":
    unittest.main()
