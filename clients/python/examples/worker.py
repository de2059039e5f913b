#!/usr/bin/env python3
"""An example remote worker: runs jobs of one kind from a rota server.

    python3 clients/python/examples/worker.py --server http://127.0.0.1:7700 --kind demo.py

The token, if the server needs one, comes from $ROTA_TOKEN (never from the
command line, where other users could read it).  A job's args say what it
does, all optional:

    {"sleep": 2.5}           work that long (stopping early if aborted)
    {"wait_file": "/tmp/go"} work until that file exists (or the job is aborted)
    {"block_first": true}    on attempt 1, work until aborted (for killing the worker mid-job)
    {"fail": "message"}      raise an exception (the attempt is retried)

Each job prints "started <id> <attempt>" on stdout when it starts, and its
result is {"attempt": n, "worker": "<name>"}.  rota's end-to-end tests drive
this script; it stops gracefully on SIGINT/SIGTERM.
"""

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import rota  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default=os.environ.get("ROTA_SERVER", "http://127.0.0.1:7700"))
    p.add_argument("--kind", action="append", required=True, help="kind to run (repeatable)")
    p.add_argument("--queue", action="append", help="queue to take jobs from (repeatable; default: default)")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--lease", type=float, default=rota.DEFAULT_LEASE, help="lease length in seconds")
    p.add_argument("--wait", type=float, default=rota.DEFAULT_WAIT, help="long-poll wait in seconds")
    p.add_argument("--grace", type=float, default=rota.DEFAULT_GRACE, help="seconds running jobs get at a stop")
    p.add_argument("--name", help="worker name recorded with the attempts")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    client = rota.Client(args.server, token=os.environ.get("ROTA_TOKEN") or None)
    w = rota.Worker(client, queues=args.queue, concurrency=args.concurrency, lease=args.lease,
                    wait=args.wait, grace=args.grace, name=args.name)

    def work(job: rota.Job):
        print("started %d %d" % (job.id, job.attempt), flush=True)
        a = job.args if isinstance(job.args, dict) else {}
        if a.get("fail"):
            raise RuntimeError(a["fail"])
        if a.get("block_first") and job.attempt == 1:
            job.aborted.wait()
        if a.get("sleep"):
            job.aborted.wait(float(a["sleep"]))
        if a.get("wait_file"):
            while not os.path.exists(a["wait_file"]) and not job.aborted.wait(0.05):
                pass
        return {"attempt": job.attempt, "worker": w.name}

    for kind in args.kind:
        w.register(kind, work)
    w.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
