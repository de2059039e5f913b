"""examples/curl/lease.sh against a real `rota serve`, so the example cannot rot."""

import os
import shutil
import subprocess
import unittest

from support import ROOT, WAIT, LeaseServerTest

SCRIPT = ROOT / "examples" / "curl" / "lease.sh"
SECRET = "py-curl-secret-0123456789"


@unittest.skipIf(shutil.which("curl") is None, "no curl on PATH")
class CurlExampleTest(LeaseServerTest):
    server_env = {"ROTA_TOKENS": "curl:write:" + SECRET}

    def run_script(self, kind, token):
        env = dict(os.environ, ROTA_SERVER=self.server.url)
        env.pop("ROTA_TOKEN", None)
        if token:
            env["ROTA_TOKEN"] = token
        return subprocess.run(["sh", str(SCRIPT), kind], env=env, capture_output=True, text=True, timeout=WAIT)

    def test_round_trip(self):
        kind = self.kind()
        out = self.run_script(kind, SECRET)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotIn(SECRET, out.stdout + out.stderr)
        jobs = list(self.server.client(SECRET).iter_jobs(kind=kind))
        self.assertEqual(len(jobs), 1)
        job = self.server.client(SECRET).get(jobs[0]["id"])
        self.assertEqual((job["state"], job["result"], job["args"]), ("done", {"sent": True}, {"to": "curl"}))
        self.assertIn('"abort_requested":false', out.stdout)
        self.assertIn("leased job %d until " % job["id"], out.stdout)

    def test_refused_without_a_token(self):
        kind = self.kind()
        out = self.run_script(kind, None)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("unauthorized", out.stdout + out.stderr)
        self.assertEqual(list(self.server.client(SECRET).iter_jobs(kind=kind)), [])


if __name__ == "__main__":
    unittest.main()
