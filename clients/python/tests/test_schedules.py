"""Schedules through the client against a real `rota serve`: create, get,
list and search, update, enable, disable, delete, preview, and bad input."""

import datetime
import unittest

from support import ServerTest, rota, wait_for

UTC = datetime.timezone.utc


class SchedulesTest(ServerTest):
    def key(self, suffix: str = "") -> str:
        """A schedule key of this test's own (with a '/', sent as %2F)."""
        return "py/" + self.id().rsplit(".", 1)[-1].replace("_", "-") + ("-" + suffix if suffix else "")

    def test_create_with_options_and_get(self):
        c = self.server.client()
        kind, key = self.kind(), self.key()
        created = c.create_schedule(
            key, kind, "daily at 02:00", {"report": "nightly"}, queue="reports", priority=7,
            metadata={"team": "blue"}, zone="Europe/Amsterdam", jitter=datetime.timedelta(seconds=30),
            misfire="skip", misfire_grace=120, misfire_cap=5, overlap="skip", enabled=True)
        want = {
            "key": key, "kind": kind, "spec": "daily at 02:00", "args": {"report": "nightly"}, "queue": "reports",
            "priority": 7, "metadata": {"team": "blue"}, "zone": "Europe/Amsterdam", "jitter": "30s",
            "misfire": "skip", "misfire_grace": "2m0s", "misfire_cap": 5, "overlap": "skip", "enabled": True,
        }
        for field, value in want.items():
            self.assertEqual(created[field], value, field)
        next_fire = rota.parse_time(created["next_fire"])
        self.assertGreater(next_fire, datetime.datetime.now(UTC))
        # 02:00 in Amsterdam is 00:00 or 01:00 UTC.
        self.assertIn(next_fire.astimezone(UTC).hour, (0, 1))
        self.assertEqual(c.get_schedule(key), created)

        plain = c.create_schedule(self.key("plain"), kind, "every 1h", jitter="1m")
        self.assertEqual((plain["args"], plain["queue"], plain["jitter"], plain["enabled"]),
                         ({}, "default", "1m0s", True))

        with self.assertRaises(rota.Duplicate) as cm:
            c.create_schedule(key, kind, "every 5m")
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (409, "duplicate", "key"))
        self.assertEqual(c.get_schedule(key)["spec"], "daily at 02:00", "a refused create changed the schedule")

    def test_list_search_and_pages(self):
        c = self.server.client()
        ka, kb = self.kind("alpha"), self.kind("beta")
        a_keys = [self.key("a%d" % i) for i in range(5)]
        b_keys = [self.key("B%d" % i) for i in range(2)]
        for k in a_keys:
            c.create_schedule(k, ka, "every 1h")
        for k in b_keys:
            c.create_schedule(k, kb, "every 1h", enabled=False)

        self.assertEqual([s["key"] for s in c.list_schedules(kind=ka).schedules], a_keys, "by key")
        page = c.list_schedules(kind=ka, limit=2)
        self.assertEqual(len(page.schedules), 2)
        self.assertIsNotNone(page.next)
        second = c.list_schedules(kind=ka, limit=2, cursor=page.next)
        self.assertEqual([s["key"] for s in second.schedules], a_keys[2:4])
        self.assertEqual([s["key"] for s in c.iter_schedules(kind=ka, limit=2)], a_keys)
        self.assertIsNone(c.list_schedules(kind=ka, limit=100).next)

        mine = self.key()
        cases = [
            ("disabled", {"search": mine, "enabled": False}, b_keys),
            ("enabled", {"search": mine, "enabled": True}, a_keys),
            ("search ignores case", {"search": mine.upper() + "-B"}, b_keys),
            ("search matches the kind", {"search": "ALPHA"}, a_keys),
            ("search and kind", {"search": "-a3", "kind": ka}, [a_keys[3]]),
            ("no match", {"search": mine + "-zzz"}, []),
            ("pending", {"kind": ka, "pending": True}, []),
        ]
        for name, filters, want in cases:
            with self.subTest(name):
                self.assertEqual([s["key"] for s in c.iter_schedules(**filters)], want)
        # A search's pages are as full as without it.
        page = c.list_schedules(search=mine, limit=3)
        self.assertEqual(len(page.schedules), 3)
        self.assertEqual([s["key"] for s in c.iter_schedules(search=mine, limit=3)], sorted(a_keys + b_keys))

    def test_update_enable_disable_delete(self):
        c = self.server.client()
        kind, key = self.kind(), self.key()
        first = c.create_schedule(key, kind, "daily at 02:00", metadata={"team": "blue"}, priority=5)

        moved = c.update_schedule(key, spec="every 15m", zone="UTC")
        self.assertEqual((moved["spec"], moved["priority"], moved["metadata"]), ("every 15m", 5, {"team": "blue"}),
                         "fields not given stay")
        self.assertNotEqual(moved["next_fire"], first["next_fire"])
        self.assertEqual(rota.parse_time(moved["next_fire"]).minute % 15, 0)
        changed = c.update_schedule(key, metadata={}, priority=9, args=[1, 2], jitter=5, overlap="queue_one")
        self.assertNotIn("metadata", changed, "metadata={} clears it")
        self.assertEqual((changed["priority"], changed["args"], changed["jitter"], changed["overlap"]),
                         (9, [1, 2], "5s", "queue_one"))

        off = c.disable_schedule(key, "maintenance")
        self.assertEqual((off["enabled"], off["disabled_reason"]), (False, "maintenance"))
        self.assertEqual(c.update_schedule(key, priority=3)["disabled_reason"], "maintenance",
                         "an update that does not enable keeps the reason")
        on = c.enable_schedule(key)
        self.assertEqual(on["enabled"], True)
        self.assertNotIn("disabled_reason", on)
        self.assertIn("next_fire", on)
        self.assertEqual(c.disable_schedule(key)["enabled"], False)
        self.assertEqual(c.update_schedule(key, enabled=True)["enabled"], True)

        self.assertIsNone(c.delete_schedule(key))
        for name, call in [
            ("get", lambda: c.get_schedule(key)),
            ("delete", lambda: c.delete_schedule(key)),
            ("update", lambda: c.update_schedule(key, priority=1)),
            ("enable", lambda: c.enable_schedule(key)),
            ("disable", lambda: c.disable_schedule(key, "gone")),
        ]:
            with self.subTest(name):
                with self.assertRaises(rota.NotFound) as cm:
                    call()
                e = cm.exception
                self.assertEqual((e.status, e.code, e.field), (404, "not_found", "key"))

    def test_a_schedule_fires(self):
        c = self.server.client()
        kind, key = self.kind(), self.key()
        # The leader disables a schedule whose kind no live node serves; a
        # pop for the kind counts as serving it (as a remote worker's lease).
        self.assertIsNone(c.pop("py-fired", kinds=[kind]))
        c.create_schedule(key, kind, "every 1s", {"from": "schedule"}, queue="py-fired")
        self.addCleanup(c.delete_schedule, key)
        jobs = []
        wait_for("a job of the schedule", lambda: bool(jobs.extend(c.list(kind=kind).jobs) or jobs))
        job = jobs[0]
        self.assertEqual((job["args"], job["queue"], job["metadata"]["rota.schedule"]),
                         ({"from": "schedule"}, "py-fired", key))
        wait_for("the schedule's last job", lambda: "last_job_id" in c.get_schedule(key))

    def test_preview(self):
        c = self.server.client()
        after = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        got = c.preview_schedule("daily at 10:00", tz="Europe/Amsterdam", after=after, n=3)
        self.assertEqual(got["fires"], ["2030-01-01T10:00:00+01:00", "2030-01-02T10:00:00+01:00",
                                        "2030-01-03T10:00:00+01:00"])
        self.assertEqual((got["spec"], got["normalized"], got["zone"], got["never"], got["after"]),
                         ("daily at 10:00", "daily at 10:00", "Europe/Amsterdam", False, "2030-01-01T01:00:00+01:00"))
        self.assertEqual(len(c.preview_schedule("every 5m")["fires"]), 10, "n defaults to 10")
        utc = c.preview_schedule("every 1h", after="2030-06-01T00:30:00Z", n=2)
        self.assertEqual((utc["zone"], utc["fires"]), ("UTC", ["2030-06-01T01:00:00Z", "2030-06-01T02:00:00Z"]))
        once = c.preview_schedule("once at 2030-01-02T15:04:05Z", after=after, n=5)
        self.assertEqual((once["fires"], once["never"]), (["2030-01-02T15:04:05Z"], True))

    def test_bad_input_names_the_field_and_stores_nothing(self):
        c = self.server.client()
        kind, key = self.kind(), self.key()
        cases = [
            ("bad spec", lambda: c.create_schedule(key, kind, "every 3 parsecs"), "spec"),
            ("empty spec", lambda: c.create_schedule(key, kind, ""), "spec"),
            ("past one-off", lambda: c.create_schedule(key, kind, "once at 2001-01-01T00:00:00Z"), "spec"),
            ("bad zone", lambda: c.create_schedule(key, kind, "every 1h", zone="Mars/Olympus"), "zone"),
            ("bad key", lambda: c.create_schedule("bad key!", kind, "every 1h"), "key"),
            ("bad kind", lambda: c.create_schedule(key, "bad kind!", "every 1h"), "kind"),
            ("priority", lambda: c.create_schedule(key, kind, "every 1h", priority=-1), "priority"),
            ("jitter", lambda: c.create_schedule(key, kind, "every 1h", jitter="soon"), "jitter"),
            ("misfire", lambda: c.create_schedule(key, kind, "every 1h", misfire="sometimes"), "misfire"),
            ("misfire_grace", lambda: c.create_schedule(key, kind, "every 1h", misfire_grace=-5), "misfire_grace"),
            ("misfire_cap", lambda: c.create_schedule(key, kind, "every 1h", misfire_cap=-1), "misfire_cap"),
            ("overlap", lambda: c.create_schedule(key, kind, "every 1h", overlap="maybe"), "overlap"),
            ("list limit", lambda: c.list_schedules(limit=0), "limit"),
            ("list cursor", lambda: c.list_schedules(cursor="nope"), "cursor"),
            ("preview spec", lambda: c.preview_schedule("every 3 parsecs"), "spec"),
            ("preview tz", lambda: c.preview_schedule("every 1h", tz="Mars/Olympus"), "tz"),
            ("preview n", lambda: c.preview_schedule("every 1h", n=0), "n"),
            ("preview after", lambda: c.preview_schedule("every 1h", after="tomorrow"), "after"),
        ]
        for name, call, field in cases:
            with self.subTest(name):
                with self.assertRaises(rota.BadRequest) as cm:
                    call()
                e = cm.exception
                self.assertEqual((e.status, e.code, e.field), (400, "invalid", field), str(e))
                self.assertIn(field, str(e))
        self.assertEqual(c.list_schedules(kind=kind).schedules, [], "a refused create stored a schedule")

        c.create_schedule(key, kind, "every 1h")
        updates = [
            ("bad spec", {"spec": "every 3 parsecs"}, "spec"),
            ("bad zone", {"zone": "Mars/Olympus"}, "zone"),
            ("priority", {"priority": 99999}, "priority"),
        ]
        for name, fields, field in updates:
            with self.subTest("update " + name):
                with self.assertRaises(rota.BadRequest) as cm:
                    c.update_schedule(key, **fields)
                self.assertEqual(cm.exception.field, field)
        with self.assertRaises(rota.BadRequest) as cm:
            c.update_schedule(key)
        self.assertEqual((cm.exception.code, cm.exception.field), ("invalid", None))
        self.assertIn("nothing to change", str(cm.exception))
        got = c.get_schedule(key)
        self.assertEqual((got["spec"], got.get("zone"), got["priority"]), ("every 1h", None, 100),
                         "a refused update changed the schedule")

    def test_argument_checks(self):
        c = self.server.client()
        cases = [
            ("naive after", lambda: c.preview_schedule("every 1h", after=datetime.datetime(2030, 1, 1)), ValueError),
            ("bool jitter", lambda: c.create_schedule("k", "k", "every 1h", jitter=True), TypeError),
            ("empty key", lambda: c.get_schedule(""), ValueError),
            ("int key", lambda: c.get_schedule(7), TypeError),
            ("enabled not a bool", lambda: c.list_schedules(enabled="yes"), TypeError),
            ("unknown option", lambda: c.update_schedule("k", colour="red"), TypeError),
        ]
        for name, call, exc in cases:
            with self.subTest(name):
                with self.assertRaises(exc):
                    call()


if __name__ == "__main__":
    unittest.main()
