"""The queue's scenarios for bench/run.py.

(g) Dispatch throughput: one provider with `max_concurrent`, simulated tasks that finish at
    once, `tasks.watch_every` short; a burst of K creates, then the wall time until the
    gateway's queue is empty (every task handed to the provider) and until every task has
    finished. SQLite and PostgreSQL in alternating rounds, each round on a fresh store.
(h) Creates before and after the store-first path: scenario (e) (creates, no
    `max_concurrent`) against the build of an earlier commit (upstream call, then one
    insert) and against this tree's build (insert, upstream call, update), plus creates to a
    provider whose `max_concurrent` never fills (this tree: insert, the queue count, the
    claim transaction, upstream call, update). Alternating rounds, each on a fresh SQLite
    file and a fresh gateway process.
"""

import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Ports of the extra gateways (the main one of run.py keeps 18080/19090).
QUEUE_PORTS = {"sqlite": (18082, 19092), "postgres": (18083, 19093)}
H_PORTS = {"before": (18084, 19094), "after": (18085, 19095), "claim": (18086, 19096)}

BODY = {"type": "text_to_video", "input": {"prompt": "a red fox runs through snow"}}
FAST = {"not_visible_ms": 0, "queued_ms": 0, "run_ms": 1}
SLOW = {"not_visible_ms": 0, "queued_ms": 3600000}


# ---------------------------------------------------------------------------------------
# The old build


def before_binaries(args):
    """The directory holding the earlier commit's release `taskgate`: --before-bin, or
    built from --before-rev in a temporary git worktree (removed after the build)."""
    if args.before_bin:
        path = os.path.join(args.before_bin, "taskgate")
        if not os.path.exists(path):
            raise SystemExit(f"--before-bin: no taskgate binary at {path}")
        return args.before_bin
    target = args.before_target
    out = os.path.join(target, "release")
    stamp = os.path.join(target, "bench-rev")
    rev = subprocess.run(["git", "rev-parse", args.before_rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    if os.path.exists(os.path.join(out, "taskgate")) and os.path.exists(stamp) and open(stamp).read().strip() == rev:
        return out
    tree = os.path.join(os.path.dirname(ROOT), f"bench-before-{rev[:7]}")
    print(f"building taskgate at {rev[:7]} in the worktree {tree} (target {target})", flush=True)
    subprocess.run(["git", "worktree", "add", "--detach", tree, rev], cwd=ROOT, check=True)
    try:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "taskgate"], cwd=tree, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": target})
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, check=False)
    with open(stamp, "w") as f:
        f.write(rev + "\n")
    return out


# ---------------------------------------------------------------------------------------
# Gateways of their own


class Gateway:
    """One taskgate process on its own ports, config and store."""

    def __init__(self, bench, name, bin_dir, template, port, admin, store, extra=None):
        self.port, self.admin = port, admin
        key_hash = subprocess.run([os.path.join(bin_dir, "taskgate"), "key", "hash", bench.KEY],
                                  capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(HERE, template)) as f:
            text = f.read()
        repl = {"@STORE@": store, "@SIM@": f"http://127.0.0.1:{bench.SIM_PORT}", "@KEYHASH@": key_hash,
                "@PORT@": str(port), "@ADMIN@": str(admin), **(extra or {})}
        for k, v in repl.items():
            text = text.replace(k, v)
        config = os.path.join(bench.tmp, f"{name}.yaml")
        with open(config, "w") as f:
            f.write(text)
        self.log = os.path.join(bench.tmp, f"{name}.log")
        self.proc = subprocess.Popen([os.path.join(bin_dir, "taskgate"), "serve", "--config", config],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "w"),
                                     env={**os.environ, "RUST_LOG": "warn"})
        start = time.time()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"gateway {name} exited; see {self.log}:\n" + open(self.log).read()[-2000:])
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=1).read()
                break
            except Exception:
                if time.time() - start > 60:
                    raise SystemExit(f"gateway {name} did not answer")
                time.sleep(0.1)
        time.sleep(0.5)

    @property
    def pid(self):
        return self.proc.pid

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def metrics(self):
        """Sums of taskgate_queue_depth and taskgate_provider_in_flight."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=10).read().decode()
        sums = {"taskgate_queue_depth": 0.0, "taskgate_provider_in_flight": 0.0}
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in sums:
                sums[name] += float(line.rsplit(" ", 1)[1])
        return int(sums["taskgate_queue_depth"]), int(sums["taskgate_provider_in_flight"])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sqlite_store(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return f'{{kind: sqlite, path: "{path}"}}'


# ---------------------------------------------------------------------------------------
# PostgreSQL: a schema of our own, dropped after


class PgSchema:
    def __init__(self, url, schema):
        self.url, self.schema = url, schema
        if not schema.replace("_", "").isalnum():
            raise SystemExit(f"--pg-schema: {schema!r} is not a plain identifier")

    def psql(self, sql):
        subprocess.run(["psql", self.url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"})

    def fresh(self):
        self.psql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE; CREATE SCHEMA {self.schema}")
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options=-c%20search_path%3D{self.schema}"

    def drop(self):
        self.psql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def available(self):
        try:
            self.psql("SELECT 1")
            return True
        except Exception:
            return False

    def version(self):
        try:
            return subprocess.run(["psql", self.url, "-tAc", "SHOW server_version"], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except Exception:
            return "unknown"


# ---------------------------------------------------------------------------------------
# (g) dispatch throughput


def burst(gw, key, n, threads):
    """n creates from `threads` keep-alive connections; the answers' statuses, latencies (s)
    and the time the last one was answered."""
    data = json.dumps(BODY).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    lock = threading.Lock()
    state = {"next": 0, "statuses": {}, "lat": [], "queued": 0, "errors": []}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
        while True:
            with lock:
                if state["next"] >= n:
                    break
                state["next"] += 1
            t = time.perf_counter()
            try:
                conn.request("POST", "/v1/tasks", body=data, headers=headers)
                res = conn.getresponse()
                raw = res.read()
                status = res.status
            except Exception as e:  # noqa: BLE001 - counted, the run goes on
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
                with lock:
                    state["errors"].append(str(e))
                continue
            took = time.perf_counter() - t
            with lock:
                state["statuses"][status] = state["statuses"].get(status, 0) + 1
                state["lat"].append(took)
                if 200 <= status < 300 and b'"provider":null' in raw.replace(b" ", b""):
                    state["queued"] += 1
                elif status >= 300 and len(state["errors"]) < 5:
                    state["errors"].append(raw[:200].decode(errors="replace"))
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    return pool, state


def dispatch_round(b, gw, n, threads, poll, limit):
    """One burst against `gw` (its store fresh); the times from the first create."""
    call = b.http
    call("POST", f"http://127.0.0.1:{b.SIM_PORT}/_sim/scenario", FAST)
    cpu0 = b.proc_stats(gw.pid)[2]
    t0 = time.perf_counter()
    pool, state = burst(gw, b.KEY, n, threads)
    created = dispatched = done = None
    max_depth = 0
    while True:
        now = time.perf_counter()
        if created is None and not any(t.is_alive() for t in pool):
            created = time.perf_counter() - t0
        depth, in_flight = gw.metrics()
        now = time.perf_counter() - t0
        max_depth = max(max_depth, depth)
        if created is not None:
            if dispatched is None and depth == 0:
                dispatched = max(now, created)
            if depth == 0 and in_flight == 0:
                done = max(now, created)
                break
        if now > limit:
            raise SystemExit(f"dispatch round did not finish in {limit} s (queue {depth}, in flight {in_flight})")
        time.sleep(poll)
    cpu = b.proc_stats(gw.pid)[2] - cpu0
    accepted = sum(c for s, c in state["statuses"].items() if 200 <= s < 300)
    failed = call("GET", f"{gw.url()}/v1/tasks?status=failed&limit=100", key=b.KEY)["data"]
    lat = sorted(state["lat"])
    return {
        "tasks": n, "accepted": accepted, "queued": state["queued"], "failed": len(failed),
        "errors": len(state["errors"]) + (n - accepted), "error_samples": state["errors"][:3],
        "failure_samples": [t.get("error") for t in failed[:3]],
        "created_s": created, "dispatched_s": dispatched, "done_s": done, "max_depth": max_depth,
        "create_p50_ms": lat[len(lat) // 2] * 1000 if lat else 0.0,
        "create_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0,
        "dispatch_rate": n / dispatched, "done_rate": n / done, "create_rate": n / created,
        "cpu_ms_per_task": cpu / n * 1000,
    }


def scenario_g(b):
    args = b.args
    n, slots, watch = args.queue_tasks, args.queue_slots, args.queue_watch
    stores = ["sqlite"]
    pg = PgSchema(args.pg_url, args.pg_schema)
    if args.no_postgres:
        b.__dict__.setdefault("queue_notes", []).append("- (g) PostgreSQL: skipped (`--no-postgres`).")
    elif pg.available():
        stores.append("postgres")
        b.pg_version = pg.version()
    else:
        b.__dict__.setdefault("queue_notes", []).append(f"- (g) PostgreSQL: not reachable at `{args.pg_url}`; only SQLite was measured.")
    b.queue_g = {s: [] for s in stores}
    b.queue_g_setup = {"tasks": n, "slots": slots, "watch": watch, "threads": args.queue_threads,
                       "rounds": args.rounds, "poll_ms": int(args.queue_poll * 1000)}
    limit = max(120.0, n / 5)
    try:
        for rnd in range(args.rounds):
            for store in stores:
                if store == "sqlite":
                    spec = sqlite_store(os.path.join(b.tmp, "queue-g.db"))
                else:
                    spec = f'{{kind: postgres, url: "{pg.fresh()}"}}'
                port, admin = QUEUE_PORTS[store]
                gw = Gateway(b, f"queue-g-{store}", b.bin, "taskgate-queue.yaml", port, admin, spec,
                             {"@SLOTS@": str(slots), "@WATCH@": watch})
                try:
                    r = dispatch_round(b, gw, n, args.queue_threads, args.queue_poll, limit)
                finally:
                    gw.stop()
                b.queue_g[store].append(r)
                print(f"(g) dispatch {store:<8} round {rnd + 1}: {n} tasks, creates answered in {r['created_s']:.2f} s, "
                      f"queue empty at {r['dispatched_s']:.2f} s ({r['dispatch_rate']:.0f} tasks/s), "
                      f"all finished at {r['done_s']:.2f} s ({r['done_rate']:.0f} tasks/s); "
                      f"answered queued {r['queued']}, failed {r['failed']}, errors {r['errors']}"
                      + (f" {r['error_samples']}" if r["error_samples"] else "")
                      + (f" {r['failure_samples']}" if r["failure_samples"] else ""), flush=True)
    finally:
        if "postgres" in stores:
            pg.drop()


# ---------------------------------------------------------------------------------------
# (h) creates before and after the store-first path


def summarize(runs, cpu, requests):
    med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "max")}
    med["errors"] = sum(r["errors"] for r in runs)
    med["rounds"] = [round(r["rps"]) for r in runs]
    med["cpu_per_100k"] = cpu / max(requests, 1) * 100_000
    return med


def scenario_h(b):
    call, wrk = b.http, b.wrk
    args = b.args
    before = before_binaries(args)
    b.before_rev = subprocess.run(["git", "rev-parse", "--short", args.before_rev], cwd=ROOT, capture_output=True,
                                  text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    b.tree_rev = head + (" with uncommitted changes" if dirty else "")
    call("POST", f"http://127.0.0.1:{b.SIM_PORT}/_sim/scenario", SLOW)
    env = {"AUTH": b.KEY}
    targets = [
        ("before", before, "taskgate.yaml", {"@DB@": None}),
        ("after", b.bin, "taskgate.yaml", {"@DB@": None}),
        ("claim", b.bin, "taskgate-queue.yaml", {"@SLOTS@": "100000", "@WATCH@": "1h"}),
    ]
    runs = {name: [] for name, *_ in targets}
    cpu = {name: 0.0 for name, *_ in targets}
    requests = {name: 0 for name, *_ in targets}
    b.queue_h_in_flight = []
    for rnd in range(args.rounds):
        for name, bin_dir, template, extra in targets:
            db = os.path.join(b.tmp, f"h-{name}.db")
            spec = sqlite_store(db)
            extra = dict(extra)
            if "@DB@" in extra:
                extra["@DB@"] = db
            port, admin = H_PORTS[name]
            gw = Gateway(b, f"h-{name}", bin_dir, template, port, admin, spec, extra)
            try:
                before_cpu = b.proc_stats(gw.pid)[2]
                r = wrk(f"{gw.url()}/v1/tasks", "create.lua", env, args.connections, args.seconds)
                cpu[name] += b.proc_stats(gw.pid)[2] - before_cpu
                requests[name] += r["requests"]
                runs[name].append(r)
                if name == "claim":
                    time.sleep(1)  # the last creates wrk left unanswered settle
                    depth, in_flight = gw.metrics()
                    b.queue_h_in_flight.append(in_flight)
                    if depth:
                        r["errors"] += depth
                        b.__dict__.setdefault("queue_notes", []).append(f"- (h) claim path: {depth} creates were queued (202) in round {rnd + 1}: "
                                       "max_concurrent filled; the figures are not the claim path alone.")
            finally:
                gw.stop()
            print(f"(h) creates {name:<7} round {rnd + 1}: {r['rps']:.0f} req/s  p50 {r['p50']:.2f} ms  "
                  f"p99 {r['p99']:.2f} ms  errors {r['errors']}", flush=True)
    b.queue_h = {name: summarize(runs[name], cpu[name], requests[name]) for name in runs}
