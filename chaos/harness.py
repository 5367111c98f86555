"""Process and HTTP helpers shared by the chaos tools (standard library only).

Starts the servers a chaos run needs on loopback, each in a temporary folder of its own:
redis-server (AOF on, killable, restartable with or without its data), batond (the real
binary) and a fresh database on an existing PostgreSQL server. Everything is stopped by
`Stack.close()`, also on SIGTERM/SIGINT.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

ROOT = os.environ.get("BATON_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "chaos-token-0123456789abcdef"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(step)
    return False


def find_batond():
    for candidate in (os.environ.get("BATON_TEST_BATOND"), os.path.join(ROOT, ".build-chaos/debug/batond"),
                      os.path.join(ROOT, ".build/debug/batond")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("batond not found: set BATON_TEST_BATOND or build with swift build --scratch-path .build-chaos")


def redis_server_path():
    return os.environ.get("BATON_TEST_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    """A redis-server of our own. `persist` is 'aof' (appendonly yes, appendfsync everysec,
    the Debian default) or 'none'. Data lives in `directory`; wipe() forgets everything."""

    def __init__(self, directory, port=None):
        self.directory = directory
        self.port = port or free_port()
        self.proc = None
        self.paused = False
        os.makedirs(directory, exist_ok=True)
        cli = os.path.join(os.path.dirname(redis_server_path()), "redis-cli")
        self.cli_path = cli if os.access(cli, os.X_OK) else "redis-cli"

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self, persist="aof"):
        args = [redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
                "--save", "", "--appendonly", "yes" if persist == "aof" else "no",
                "--maxmemory-policy", "noeviction", "--logfile", "redis.log"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.paused = False
        if not wait_until(self.ping, 10):
            raise RuntimeError("redis-server did not start on port %d" % self.port)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        """SIGKILL, as in a crash."""
        if self.proc is None:
            return
        if self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.paused = False

    def pause(self):
        """SIGSTOP: a hung server that keeps its connections open."""
        if self.proc is not None and not self.paused:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.proc is not None and self.paused:
            self.proc.send_signal(signal.SIGCONT)
            self.paused = False

    def wipe(self):
        """Forgets every key: what a restart without persistence (or onto a fresh node) sees."""
        for name in os.listdir(self.directory):
            if name == "redis.log":
                continue
            path = os.path.join(self.directory, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    def snapshot_to(self, target):
        """Copies the persisted data (AOF folder) as it is now: a replica that will miss later writes."""
        if os.path.exists(target):
            shutil.rmtree(target)
        os.makedirs(target)
        for name in os.listdir(self.directory):
            if name == "redis.log":
                continue
            src = os.path.join(self.directory, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(target, name))

    def restore_from(self, source):
        self.wipe()
        for name in os.listdir(source):
            src = os.path.join(source, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(self.directory, name))

    def cli(self, *args, timeout=5):
        r = subprocess.run([self.cli_path, "-p", str(self.port)] + list(args), capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip()

    def client_count(self):
        """Connections Redis sees (CLIENT LIST), less redis-cli's own."""
        out = self.cli("CLIENT", "LIST")
        return max(0, len([l for l in out.splitlines() if l.strip()]) - 1)

    def close(self):
        self.kill()


class Postgres:
    """A fresh database on an existing server (the admin URL from BATON_TEST_DATABASE_URL)."""

    def __init__(self, admin_url=None):
        self.admin_url = admin_url or os.environ.get("BATON_TEST_DATABASE_URL")
        if not self.admin_url:
            raise SystemExit("BATON_TEST_DATABASE_URL is not set (start PostgreSQL with scripts/lib.sh start_postgres)")
        self.name = "baton_chaos_" + uuid.uuid4().hex[:12]
        base = self.admin_url.rsplit("/", 1)[0]
        self.url = base + "/" + self.name
        self.psql(self.admin_url, "CREATE DATABASE %s" % self.name)

    @staticmethod
    def psql(url, sql, timeout=30):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                           capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PGCONNECT_TIMEOUT="5"))
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr.strip())
        return r.stdout

    def query(self, sql):
        return [line.split("\t") for line in self.psql(self.url, sql).splitlines() if line]

    def backend_count(self):
        """Sessions connected to this database (pg_stat_activity), less psql's own."""
        out = self.psql(self.admin_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid()" % self.name)
        return int(out.strip() or 0)

    def close(self, drop=True):
        if not drop:
            return
        try:
            self.psql(self.admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        except Exception:
            pass


class Batond:
    def __init__(self, redis_url, database_url, directory, extra=None, binary=None, port=None):
        self.binary = binary or find_batond()
        self.port = port or free_port()
        self.log_path = os.path.join(directory, "batond-%d.log" % self.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update({
            "BATON_LISTEN": "127.0.0.1:%d" % self.port, "BATON_REDIS_URL": redis_url, "BATON_DATABASE_URL": database_url,
            "BATON_API_TOKENS": TOKEN, "BATON_REDIS_TIMEOUT_MS": "300", "BATON_PG_TIMEOUT_MS": "1000",
            "BATON_BREAKER_COOLDOWN_MS": "1000", "BATON_THREADS": "4", "BATON_LOG_LEVEL": "warn",
        })
        env.update(extra or {})
        self.env = env
        self.proc = None
        self.exit_code = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ok = wait_until(lambda: self.alive() and http_get(self.port, "/healthz", auth=False)[0] == 200, 20)
        if not ok:
            raise RuntimeError("batond did not start:\n" + self.log()[-2000:])

    def alive(self):
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is not None:
            self.exit_code = code
            return False
        return True

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return self.exit_code
        self.proc.send_signal(sig)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit_code = self.proc.wait()
        self.proc = None
        return self.exit_code

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, AttributeError):
            return None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def tear_down(stop, batond, servers, pg, root):
    """Ends a chaos run: the holders' stop event, batond (SIGTERM), then every server
    (anything with close(); None is skipped), the database and the temporary folder."""
    stop.set()
    if batond is not None and batond.proc is not None:
        batond.stop(signal.SIGTERM, timeout=15)
    for s in servers:
        if s is not None:
            s.close()
    if pg is not None:
        pg.close()
    shutil.rmtree(root, ignore_errors=True)


def http_get(port, path, auth=True, timeout=3):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN} if auth else {})
        r = c.getresponse()
        body = r.read()
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = body.decode(errors="replace")
        return r.status, data
    except OSError:
        return None, None
    finally:
        c.close()


class Client:
    """One keep-alive connection; every call returns (status, headers, json, send_t, recv_t)
    with monotonic send/receive times. status is None when no complete answer arrived."""

    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def post(self, path, body):
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
        return self.call("POST", path, data, headers)

    def get(self, path):
        return self.call("GET", path, None, {"Authorization": "Bearer " + TOKEN})

    def call(self, method, path, data, headers):
        if self.conn is None:
            self._connect()
        sent = time.monotonic()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
            received = time.monotonic()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return None, {"error": type(e).__name__}, None, sent, time.monotonic()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return r.status, hdrs, payload, sent, received

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


class Stack:
    """Redis + a fresh database + batond, in one temporary folder."""

    def __init__(self, extra=None, keep=False, binary=None, replicas=1):
        self.dir = tempfile.mkdtemp(prefix="baton-chaos-")
        os.chmod(self.dir, 0o755)
        self.keep = keep
        self.redis = Redis(os.path.join(self.dir, "redis"))
        self.redis.start("aof")
        self.pg = Postgres()
        # Several replicas share one Redis and one database, as behind a Kubernetes Service.
        self.batonds = [Batond(self.redis.url, self.pg.url, self.dir, extra=extra, binary=binary) for _ in range(replicas)]
        for b in self.batonds:
            b.start()
        self.batond = self.batonds[0]
        self._old = {}
        for s in (signal.SIGTERM, signal.SIGINT):
            self._old[s] = signal.signal(s, self._on_signal)

    def _on_signal(self, signum, frame):
        self.close()
        raise SystemExit(128 + signum)

    @property
    def port(self):
        return self.batond.port

    def status(self, replica=0):
        return http_get(self.batonds[replica].port, "/status")[1] or {}

    def close(self):
        try:
            for b in self.batonds:
                if b.proc is not None:
                    b.stop(signal.SIGTERM, timeout=15)
        finally:
            self.redis.close()
            self.pg.close(drop=not self.keep)
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
