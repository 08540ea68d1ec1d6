#!/usr/bin/env python3
"""taskgate's benchmark harness: one command, one machine, every target side by side.

Starts the provider simulator (the upstream), nginx as a plain reverse proxy to it (the
reference for what forwarding costs here), and taskgate (release build) on SQLite, then
drives each scenario with wrk at the same concurrency and duration, several rounds, and
reports medians. Writes the tables to BENCHMARKS.md (or --out).

    python3 bench/run.py                 # the full run (about 10 minutes)
    python3 bench/run.py --quick         # a smoke run (short rounds)
    python3 bench/run.py --queue         # the full run with the queue's scenarios (g, h)
    python3 bench/run.py --only g,h --before-bin DIR
                                         # the queue's scenarios only, merged into BENCHMARKS.md

Scenarios (g) and (h) measure the queue (bench/queue_bench.py): (g) dispatch throughput
through a provider's max_concurrent on SQLite and PostgreSQL (--pg-url, in a schema of its
own that is dropped after), (h) creates before (--before-rev, built in a temporary git
worktree unless --before-bin names its release directory) and after the store-first path.

Everything listens on 127.0.0.1 only.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_PORT, NGINX_PORT, GW_PORT, ADMIN_PORT, LITELLM_PORT = 18090, 18081, 18080, 19090, 18100
KEY = "tg_bench_key_0123456789abcdef0123456789abcdef"
HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ensure_tools(profile=False):
    if profile and shutil.which("perf") is None:
        print("installing linux-perf from Debian's packages", flush=True)
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", "linux-perf"])
    missing = [t for t in ("wrk", "nginx") if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]
    if missing:
        print(f"installing {' '.join(missing)} from Debian's packages", flush=True)
        sh(["apt-get", "update", "-qq"])
        pkgs = ["wrk" if m == "wrk" else "nginx-light" for m in missing]
        sh(["apt-get", "install", "-y", "-qq", *pkgs])


def http(method, url, body=None, key=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=30) as res:
        raw = res.read()
        return json.loads(raw) if raw else None


def wait_http(url, limit=60):
    start = time.time()
    while time.time() - start < limit:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def proc_stats(pid):
    """(rss_kib, peak_rss_kib, cpu_seconds) of a process."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return rss, hwm, cpu


def parse_wrk(out):
    """requests/s, p50/p99/max latency in ms, errors, requests from `wrk --latency`."""
    def ms(text):
        text = text.strip()
        for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * factor
        return float(text)

    r = {"rps": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0, "errors": 0, "requests": 0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            r["rps"] = float(parts[1])
        elif line.strip().startswith("50%"):
            r["p50"] = ms(parts[1])
        elif line.strip().startswith("99%"):
            r["p99"] = ms(parts[1])
        elif line.strip().startswith("Latency") and len(parts) >= 4 and "Distribution" not in line:
            r["max"] = ms(parts[3])
        elif "requests in" in line:
            r["requests"] = int(parts[0])
        elif line.strip().startswith("Non-2xx"):
            r["errors"] += int(parts[-1])
        elif line.strip().startswith("Socket errors"):
            r["errors"] += sum(int(p.strip(",")) for p in parts if p.strip(",").isdigit())
    return r


def wrk(url, script, env, conns, secs):
    cmd = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{secs}s", "--latency", "-s", os.path.join(HERE, script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    return parse_wrk(out)


class Bench:
    KEY, SIM_PORT = KEY, SIM_PORT
    proc_stats, http, wrk = staticmethod(proc_stats), staticmethod(http), staticmethod(wrk)

    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="taskgate-bench-")
        self.procs = []
        self.results = {}
        self.notes = []
        self.profiles = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()

    def build(self):
        print("building release binaries", flush=True)
        sh(["cargo", "build", "--release", "--locked", "-p", "taskgate", "-p", "taskgate-sim"], cwd=ROOT)
        self.bin = os.path.join(ROOT, "target", "release")

    def start_sim(self):
        self.sim = self.start([os.path.join(self.bin, "taskgate-sim"), "--listen", f"127.0.0.1:{SIM_PORT}",
                               "--not-visible-ms", "0", "--queued-ms", "3600000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{SIM_PORT}/_sim/stats")

    def start_nginx(self):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(os.path.join(HERE, "nginx.conf")) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("@TMP@", self.tmp).replace("@PORT@", str(NGINX_PORT)).replace("@UPSTREAM@", f"127.0.0.1:{SIM_PORT}"))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.nginx = self.start([nginx, "-c", conf, "-p", self.tmp, "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{NGINX_PORT}/_sim/stats")

    def start_gateway(self, db="bench.db"):
        self.db = db
        key_hash = subprocess.run([os.path.join(self.bin, "taskgate"), "key", "hash", KEY],
                                  capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(HERE, "taskgate.yaml")) as f:
            text = f.read()
        config = os.path.join(self.tmp, "taskgate.yaml")
        with open(config, "w") as f:
            f.write(text.replace("@DB@", os.path.join(self.tmp, db)).replace("@SIM@", f"http://127.0.0.1:{SIM_PORT}")
                    .replace("@KEYHASH@", key_hash).replace("@PORT@", str(GW_PORT)).replace("@ADMIN@", str(ADMIN_PORT)))
        env = {**os.environ, "RUST_LOG": "warn"}
        self.gw = self.start([os.path.join(self.bin, "taskgate"), "serve", "--config", config],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "gateway.log"), "w"), env=env)
        wait_http(f"http://127.0.0.1:{ADMIN_PORT}/healthz")
        time.sleep(1)
        if not hasattr(self, "idle_rss"):
            self.idle_rss = proc_stats(self.gw.pid)[0]

    def create_tasks(self, n, sim_script):
        http("POST", f"http://127.0.0.1:{SIM_PORT}/_sim/scenario", sim_script)
        body = {"type": "text_to_video", "input": {"prompt": "a red fox runs through snow"}}
        url = f"http://127.0.0.1:{GW_PORT}/v1/tasks"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            tasks = list(pool.map(lambda _: http("POST", url, body, KEY), range(n)))
        return tasks

    def profile(self, name, url, script, env, conns, pid):
        """One more round under `perf record`, summarised into bench/profiles/."""
        os.makedirs(os.path.join(HERE, "profiles"), exist_ok=True)
        slug = name.split(")")[0].strip("(")
        data = os.path.join(self.tmp, f"perf-{slug}.data")
        perf = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-e", "cpu-clock", "-p", str(pid), "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        wrk(url, script, env, conns, self.args.seconds)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        out = os.path.join(HERE, "profiles", f"{slug}.txt")
        with open(out, "w") as f:
            f.write(f"# perf profile of taskgate during one round of {name}\n")
            f.write("# self time by function, then by shared object\n\n")
            f.flush()
            subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "symbol", "--percent-limit", "0.7",
                            "--stdio", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL, check=False)
            f.flush()
            subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "--stdio", "-g", "none"],
                           stdout=f, stderr=subprocess.DEVNULL, check=False)
        self.profiles.append(os.path.basename(out))
        print(f"  profile written to {os.path.relpath(out, ROOT)}", flush=True)

    def scenario(self, name, url, script, env, conns=None, rounds=None, secs=None, target_pid=None, profile=True):
        conns = conns or self.args.connections
        rounds = rounds or self.args.rounds
        secs = secs or self.args.seconds
        runs = []
        cpu = 0.0
        requests = 0
        for _ in range(rounds):
            before = proc_stats(target_pid)[2] if target_pid else 0.0
            r = wrk(url, script, env, conns, secs)
            if target_pid:
                cpu += proc_stats(target_pid)[2] - before
            requests += r["requests"]
            runs.append(r)
        med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "max")}
        med["errors"] = sum(r["errors"] for r in runs)
        med["rounds"] = [round(r["rps"]) for r in runs]
        if target_pid:
            med["cpu_per_100k"] = cpu / max(requests, 1) * 100_000
            med["peak_rss_mib"] = proc_stats(target_pid)[1] / 1024
        if target_pid and self.args.profile and profile:
            self.profile(name, url, script, env, conns, target_pid)
        self.results[name] = med
        print(f"{name:<34} {med['rps']:>9.0f} req/s  p50 {med['p50']:.2f} ms  p99 {med['p99']:.2f} ms  errors {med['errors']}", flush=True)
        return med


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short rounds, for a smoke run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--bin", default="", help="use the release binaries in this directory (a copy, safe from rebuilds during the run); no build")
    ap.add_argument("--litellm", action="store_true", help="also run LiteLLM's proxy as the peer, scenario (f) (installs litellm[proxy] in bench/.litellm-venv)")
    ap.add_argument("--profile", action="store_true", help="also record a perf profile of taskgate per scenario (bench/profiles/)")
    ap.add_argument("--only", default="", help="comma-separated scenario letters to run (a,b,c,d,e,f,g,h); default all")
    q = ap.add_argument_group("queue scenarios (g: dispatch throughput, h: creates before/after store-first)")
    q.add_argument("--queue", action="store_true", help="also run (g) and (h) in a full run (not by default: (h) builds an older commit)")
    q.add_argument("--queue-tasks", type=int, default=2000, help="(g) tasks per burst")
    q.add_argument("--queue-slots", type=int, default=16, help="(g) the provider's max_concurrent")
    q.add_argument("--queue-watch", default="50ms", help="(g) tasks.watch_every")
    q.add_argument("--queue-threads", type=int, default=32, help="(g) client connections of the burst")
    q.add_argument("--queue-poll", type=float, default=0.05, help="(g) seconds between /metrics polls")
    q.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test", help="(g) PostgreSQL (trust auth)")
    q.add_argument("--pg-schema", default="bench_queue", help="(g) schema created for the run and dropped after")
    q.add_argument("--no-postgres", action="store_true", help="(g) SQLite only")
    q.add_argument("--before-rev", default="56ba4e1", help="(h) the commit before the store-first path")
    q.add_argument("--before-bin", default="", help="(h) release directory holding that commit's taskgate (else it is built)")
    q.add_argument("--before-target", default=os.path.join(ROOT, "target", "bench-before"), help="(h) CARGO_TARGET_DIR of that build")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds = 3, 1
        args.queue_tasks = min(args.queue_tasks, 500)
    ensure_tools(args.profile)
    b = Bench(args)
    try:
        if args.bin:
            b.bin = os.path.abspath(args.bin)
        elif args.no_build:
            b.bin = os.path.join(ROOT, "target", "release")
        else:
            b.build()
        b.start_sim()
        b.start_nginx()
        b.start_gateway()
        if args.litellm:
            import litellm_peer
            litellm_peer.ensure_installed()
        run(b)
    finally:
        if getattr(b, "peer", None):
            b.peer.stop()
        b.stop_all()
    if args.only:
        if getattr(b, "queue_g", None) or getattr(b, "queue_h", None):
            from report import merge_queue_sections
            merge_queue_sections(b, args)
            print(f"partial run (--only): the queue sections of {args.out} replaced, the rest left as it is")
        else:
            print("partial run (--only): BENCHMARKS.md left as it is")
        return
    from report import write_report
    write_report(b, args)
    print(f"wrote {args.out}")


def seed_tasks(b, prefix=""):
    """2,000 unfinished and 2,000 finished tasks; the files of their ids."""
    gw = f"http://127.0.0.1:{GW_PORT}"
    unfinished = b.create_tasks(2000, {"not_visible_ms": 0, "queued_ms": 3600000, "run_ms": 1000})
    finished = b.create_tasks(2000, {"not_visible_ms": 0, "queued_ms": 0, "run_ms": 0})
    ids_unfinished = os.path.join(b.tmp, f"{prefix}unfinished.txt")
    ids_finished = os.path.join(b.tmp, f"{prefix}finished.txt")
    with open(ids_unfinished, "w") as f:
        f.write("\n".join(t["id"] for t in unfinished) + "\n")
    with open(ids_finished, "w") as f:
        f.write("\n".join(t["id"] for t in finished) + "\n")
    # Finish the second batch in the store: one read each.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda t: http("GET", f"{gw}/v1/tasks/{t['id']}", key=KEY), finished))
    http("POST", f"http://127.0.0.1:{SIM_PORT}/_sim/scenario", {"not_visible_ms": 0, "queued_ms": 3600000})
    return ids_unfinished, ids_finished, unfinished


def run(b):
    only = set(filter(None, b.args.only.split(",")))
    want = lambda letter: not only or letter in only
    if only and not only & set("abcdef"):
        run_queue(b, want)
        return
    gw, ng = f"http://127.0.0.1:{GW_PORT}", f"http://127.0.0.1:{NGINX_PORT}"
    ids_unfinished, ids_finished, unfinished = seed_tasks(b)
    poll_id = unfinished[0]["provider_task_id"]
    poll_path = f"/api/v1/get_runway/{poll_id}"
    env = {"KEY": KEY, "PATH_ONE": poll_path, "PROVIDER_KEY": "bench-provider-key"}
    pid = b.gw.pid
    if want("a"):
        b.scenario("(a) nginx: provider poll", f"{ng}{poll_path}", "get_one.lua", {**env, "AUTH": "bench-provider-key"})
    if want("b"):
        b.scenario("(b) taskgate: pass-through poll", f"{gw}/proxy/makevid{poll_path}", "get_one.lua", {**env, "AUTH": KEY, "PATH_ONE": f"/proxy/makevid{poll_path}"}, target_pid=pid)
    if want("c"):
        b.scenario("(c) taskgate: refreshed reads", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_unfinished, "AUTH": KEY}, target_pid=pid)
    if want("d"):
        b.scenario("(d) taskgate: finished reads", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_finished, "AUTH": KEY}, target_pid=pid)
    http("POST", f"http://127.0.0.1:{SIM_PORT}/_sim/scenario", {"not_visible_ms": 0, "queued_ms": 3600000})
    if want("e"):
        b.scenario("(e) taskgate: creates (SQLite)", f"{gw}/v1/tasks", "create.lua", {**env, "AUTH": KEY}, target_pid=pid)
    if b.args.litellm and want("f"):
        # Started only now and stopped right after: it must not share the CPU with the
        # other scenarios.
        import litellm_peer
        print("starting LiteLLM's proxy (the peer)", flush=True)
        peer = b.peer = litellm_peer.start(b.tmp, f"http://127.0.0.1:{SIM_PORT}", LITELLM_PORT)
        b.peer_version = peer.version
        video = peer.create_video()
        lite = f"http://127.0.0.1:{LITELLM_PORT}"
        b.scenario("(f) LiteLLM: GET /v1/videos/{id}", f"{lite}{peer.read_path(video)}", "get_one.lua",
                   {**env, "AUTH": peer.key, "PATH_ONE": peer.read_path(video)}, target_pid=peer.pid, profile=False)
        path, body = peer.create_request()
        b.scenario("(f) LiteLLM: POST /v1/videos", f"{lite}{path}", "create_litellm.lua",
                   {**env, "AUTH": peer.key, "PATH_ONE": path, "BODY": json.dumps(body)}, target_pid=peer.pid, profile=False)
        peer.stop()
        b.peer = None
    run_queue(b, want)
    if only:
        return
    # Scale with concurrency.
    b.curve = []
    for c in (1, 16, 64, 256):
        d = b.scenario(f"(d) finished reads, c={c}", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_finished, "AUTH": KEY}, conns=c, rounds=1, target_pid=pid, profile=False)
        e = b.scenario(f"(e) creates, c={c}", f"{gw}/v1/tasks", "create.lua", {**env, "AUTH": KEY}, conns=c, rounds=1, target_pid=pid, profile=False)
        b.curve.append((c, d, e))
    # Leak check: RSS after ~100k more requests, then after ~1M.
    if not b.args.quick:
        rps = max(b.results["(d) taskgate: finished reads"]["rps"], 1000)
        b.scenario("soak: finished reads to 100k", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_finished, "AUTH": KEY}, rounds=1, secs=max(int(100_000 / rps), 1), target_pid=pid, profile=False)
        b.rss_100k = proc_stats(pid)[0]
        b.scenario("soak: finished reads to 1M", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_finished, "AUTH": KEY}, rounds=1, secs=max(int(900_000 / rps), 1), target_pid=pid, profile=False)
        b.rss_1m = proc_stats(pid)[0]
    b.final_rss = proc_stats(pid)[0]
    b.peak_rss = proc_stats(pid)[1]
    store_curve(b, env)


def run_queue(b, want):
    """(g) and (h), each on gateways of its own (bench/queue_bench.py)."""
    import queue_bench
    asked = b.args.queue or b.args.only
    if want("g") and asked:
        queue_bench.scenario_g(b)
    if want("h") and asked:
        queue_bench.scenario_h(b)
    http("POST", f"http://127.0.0.1:{SIM_PORT}/_sim/scenario", {"not_visible_ms": 0, "queued_ms": 3600000})


def stored_tasks(b):
    """Tasks in the gateway's SQLite file (read-only; WAL lets it read beside the gateway)."""
    import sqlite3
    db = sqlite3.connect(f"file:{os.path.join(b.tmp, b.db)}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        db.close()


def store_curve(b, env):
    """Reads and creates as the store grows, on a fresh gateway and store: filled with
    creates (the way it grows in use) up to each size, then one round of each scenario."""
    b.gw.send_signal(signal.SIGTERM)
    b.gw.wait(timeout=30)
    b.start_gateway(db="store-curve.db")
    gw, pid = f"http://127.0.0.1:{GW_PORT}", b.gw.pid
    ids_unfinished, ids_finished, _ = seed_tasks(b, "curve-")
    sizes = (10_000, 100_000) if b.args.quick else (10_000, 100_000, 1_000_000)
    secs = min(b.args.seconds, 5)
    b.store_curve = []
    for size in sizes:
        while (have := stored_tasks(b)) < size:
            rate = max(b.results.get("(e) taskgate: creates (SQLite)", {}).get("rps", 5000), 1000)
            fill = max(1, min(60, int((size - have) / rate) + 1))
            wrk(f"{gw}/v1/tasks", "create.lua", {**env, "AUTH": KEY}, 64, fill)
        have = stored_tasks(b)
        c = b.scenario(f"(c) refreshed reads, {size} tasks", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_unfinished, "AUTH": KEY}, rounds=1, secs=secs, target_pid=pid, profile=False)
        d = b.scenario(f"(d) finished reads, {size} tasks", f"{gw}/v1/tasks", "get_random.lua", {**env, "IDS_FILE": ids_finished, "AUTH": KEY}, rounds=1, secs=secs, target_pid=pid, profile=False)
        e = b.scenario(f"(e) creates, {size} tasks", f"{gw}/v1/tasks", "create.lua", {**env, "AUTH": KEY}, rounds=1, secs=secs, target_pid=pid, profile=False)
        b.store_curve.append((have, c, d, e, proc_stats(pid)[0]))


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
