"""Test support: a real `rota serve` process on a free loopback port and a
temporary SQLite file.

The binary is $ROTA_BIN when set (.ci/run builds it), else built once per
test run with `go build ./cmd/rota` from this repository.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Callable, List, Optional

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import rota  # noqa: E402

#: Seconds a test waits for a condition before failing.
WAIT = 30.0

_SERVING = re.compile(r'msg="rota serving".* http=(\S+)')

_built: List[str] = []  # the binary built for this run, once
_build_lock = threading.Lock()


def rota_binary() -> str:
    """The rota binary the tests run: $ROTA_BIN, or one built now."""
    env = os.environ.get("ROTA_BIN")
    if env:
        return env
    with _build_lock:
        if not _built:
            if shutil.which("go") is None:
                raise unittest.SkipTest("no go on PATH to build rota, and ROTA_BIN is not set")
            out = Path(tempfile.mkdtemp(prefix="rota-pytest-bin-")) / "rota"
            subprocess.run(["go", "build", "-o", str(out), "./cmd/rota"], cwd=str(ROOT), check=True)
            _built.append(str(out))
        return _built[0]


def wait_for(what: str, cond: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll cond until it holds; fail the test (AssertionError) when it does not within timeout."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(0.02)


class Server:
    """A `rota serve` process.  ``url`` is its base URL; ``logs`` its stderr lines so far."""

    def __init__(self, env: Optional[dict] = None):
        self.dir = tempfile.mkdtemp(prefix="rota-pytest-")
        self.db = os.path.join(self.dir, "rota.db")
        self.env = dict(env or {})
        self.logs: List[str] = []
        self.url = ""
        self._start("127.0.0.1:0")

    def _start(self, listen: str) -> None:
        # The server's settings are the test's alone: none inherited from the caller's ROTA_*.
        full = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
        full.update({
            "ROTA_DATABASE_URL": self.db,
            "ROTA_LISTEN": listen,
            "ROTA_LOG_LEVEL": "info",
            "ROTA_NODE_ID": "pytest",
            # Rescue expired leases every half second.
            "ROTA_LEASE_DURATION": "1s",
        })
        full.update(self.env)
        addr = threading.Event()
        self.url = ""
        self.proc = subprocess.Popen([rota_binary(), "serve"], env=full, cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, args=(self.proc, addr), daemon=True).start()
        if not addr.wait(WAIT) or not self.url:
            self.stop()
            raise RuntimeError("rota serve did not say where it listens:\n" + "\n".join(self.logs))
        client = rota.Client(self.url)
        wait_for("rota serve to be ready", lambda: _ready(client))

    def restart(self) -> None:
        """Stop the process (SIGTERM, as a deployment would) and start another
        on the same store and address, so clients reconnect to the same URL."""
        listen = self.url[len("http://"):]
        self._terminate()
        self._start(listen)

    def _read(self, proc: subprocess.Popen, addr: threading.Event) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.logs.append(line.rstrip("\n"))
            m = _SERVING.search(line)
            if m and not addr.is_set():
                self.url = "http://" + m.group(1)
                addr.set()
        proc.stderr.close()
        addr.set()

    def client(self, token: Optional[str] = None, timeout: float = 10.0) -> rota.Client:
        return rota.Client(self.url, token=token, timeout=timeout)

    def has_leases(self) -> bool:
        """Whether this server has the lease protocol's routes."""
        try:
            self.client().request("POST", "/v1/leases", {})
        except rota.NotFound:
            return False
        except rota.APIError:
            return True
        return True

    def _terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    """A TCP proxy in front of a server whose connections a test can cut,
    as a network or a load balancer would.  ``url`` is its base URL."""

    def __init__(self, target_url: str):
        host, port = target_url[len("http://"):].rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = "http://127.0.0.1:%d" % self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: List["_Pair"] = []
        self._cut_armed = False
        #: Connections accepted so far, and connections cut inside an event.
        self.accepted = 0
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target, timeout=WAIT)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair, client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, server, client, True), daemon=True).start()

    def _pump(self, pair: "_Pair", src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server:
                    with self._lock:
                        cut = self._cut_armed and b"\ndata: " in data
                        if cut:
                            self._cut_armed = False
                            self.cuts += 1
                    if cut:
                        # The event's id and type lines, not its data nor
                        # the blank line that would dispatch it.
                        dst.sendall(data[:data.index(b"\ndata: ") + 1])
                        break
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        pair.shutdown()
        pair.done()

    def open(self) -> int:
        """Connections open through the proxy now."""
        with self._lock:
            return len(self._pairs)

    def drop(self) -> int:
        """Cut every open connection (both ends see it end); how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.shutdown()
        return len(pairs)

    def cut_in_next_event(self) -> None:
        """Cut the connection that next carries an event's data, in the
        middle of that event: the client gets its id: and event: lines only."""
        with self._lock:
            self._cut_armed = True

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept: close alone leaves it listening
        except OSError:
            pass
        self._listener.close()
        self.drop()


class _Pair:
    """The two sockets of a proxied connection, closed once both pumps are done."""

    def __init__(self, client: socket.socket, server: socket.socket):
        self.socks = (client, server)
        self._lock = threading.Lock()
        self._pumps = 2

    def shutdown(self) -> None:
        for sock in self.socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def done(self) -> None:
        with self._lock:
            self._pumps -= 1
            last = self._pumps == 0
        if last:
            for sock in self.socks:
                sock.close()


def _ready(client: rota.Client) -> bool:
    try:
        client.request("GET", "/readyz")
        return True
    except rota.RotaError:
        return False


class ServerTest(unittest.TestCase):
    """A test case with one `rota serve` for the whole class (``cls.server``)."""

    server_env: Optional[dict] = None
    server: Server

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Server(cls.server_env)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()

    def kind(self, suffix: str = "") -> str:
        """A kind of this test's own, so tests on one server do not see each other's jobs."""
        name = "py." + self.id().rsplit(".", 1)[-1].replace("_", "-")
        return name + ("." + suffix if suffix else "")


def require_leases(server: Server) -> None:
    """Skip (or fail, with ROTA_TEST_REQUIRE_LEASES=1) when server has no lease routes."""
    if server.has_leases():
        return
    msg = "this rota serve has no lease routes (POST /v1/leases is 404): the lease protocol is not on this branch"
    if os.environ.get("ROTA_TEST_REQUIRE_LEASES") == "1":
        raise AssertionError(msg + ", and ROTA_TEST_REQUIRE_LEASES=1 requires it")
    raise unittest.SkipTest(msg)


class LeaseServerTest(ServerTest):
    """A server with the lease routes, or a skip."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Server(cls.server_env)
        try:
            require_leases(cls.server)
        except BaseException:
            cls.server.stop()
            raise

    def start(self, w: rota.Worker) -> threading.Thread:
        """Run w in a thread until the test ends."""
        errors = []

        def run():
            try:
                w.run(handle_signals=False)
            except BaseException as e:  # shown by the cleanup
                errors.append(e)

        t = threading.Thread(target=run, daemon=True)
        t.start()

        def cleanup():
            w.stop(grace=0)
            w.stop()
            t.join(WAIT)
            self.assertFalse(t.is_alive(), "the worker did not stop")
            self.assertEqual(errors, [])

        self.addCleanup(cleanup)
        return t

    def worker(self, **kw) -> rota.Worker:
        kw.setdefault("wait", 0.5)
        kw.setdefault("lease", 3)
        return rota.Worker(self.server.client(), **kw)

    def wait_state(self, job_id: int, *states: str) -> dict:
        got = {}

        def check():
            got.update(self.server.client().get(job_id))
            return got["state"] in states

        wait_for("job %d to be %s" % (job_id, " or ".join(states)), check)
        return got
