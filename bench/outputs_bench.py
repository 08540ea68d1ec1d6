#!/usr/bin/env python3
"""Durable outputs: the gateway's copy throughput against `curl -o` (issue 17).

A succeeded task's outputs are copied into the gateway's storage (here `outputs.storage:
{kind: local}`) before the task reports `succeeded`: streamed from the provider's URL into a
file, hashed (sha256) on the way. This measures that copy against `curl -o` of the same kind
of file from the same simulator on loopback, in the same run, onto the same disk:

- taskgate: a `text_to_video` task to the simulator's makevid dialect whose output is N bytes
  (`"extra": {"sim": {"output_bytes": N, ...}}`); the copy's time and bytes are the deltas of
  `taskgate_output_copy_seconds` (`_sum`, `_count`) and `taskgate_output_copy_bytes_total`
  on the admin listener's `/metrics` (the copy alone: GET, stream, hash, write, rename).
- curl -o: `curl -s -o FILE URL`, its own `%{time_total}` (the baseline the issue names).
- curl | tee | sha256sum, curl | tee | openssl dgst -sha256: the same work as the gateway's
  (write and hash), wall time.
- curl -o /dev/null: neither write nor hash, what the simulator can serve (the ceiling).

Each round runs every variant once per size, the order reversed every other round (in even
rounds curl fetches the very file the gateway has just copied; in odd rounds, before the
gateway's copy, the previous round's file of that size). Every file is deleted after it is
measured, so at most two copies of the largest size are on disk at once. Medians of rounds.

    python3 bench/outputs_bench.py --bin target/release/taskgate --sim-bin target/release/taskgate-sim

Replaces its section (between `<!-- bench:outputs -->` markers) in BENCHMARKS.md, or appends
it at the end (in the part `bench/run.py` keeps); `--no-write` only prints it. Everything
listens on 127.0.0.1 only.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Ports of its own: run.py keeps 18080-18100/19090, queue_bench.py 18082-18086/19092-19096.
SIM_PORT, GW_PORT, ADMIN_PORT = 18097, 18087, 19097
KEY = "tg_bench_key_0123456789abcdef0123456789abcdef"
MIB = 1024 * 1024
MARK_START, MARK_END = "<!-- bench:outputs -->", "<!-- /bench:outputs -->"

CONFIG = """\
# taskgate for the outputs bench: SQLite store, the simulator as makevid, outputs copied into
# a local directory on the same disk as curl's files.
server: {listen: "127.0.0.1:@PORT@", admin_listen: "127.0.0.1:@ADMIN@"}
store: {kind: sqlite, path: "@DB@"}
tasks: {refresh_after: 100ms, not_found_grace: 60s, watch_every: 250ms, give_up_after: 2h}
outputs:
  storage: {kind: local, path: "@OUTPUTS@"}
  max_bytes: @MAX_BYTES@
providers:
  makevid: {type: makevid, base_url: "@SIM@", api_key: bench-provider-key, timeout: 30s, retries: 0}
tenants:
  bench:
    keys: ["@KEYHASH@"]
    routes: {text_to_video: [makevid]}
"""

VARIANTS = ("taskgate", "curl", "curl_sha", "curl_ossl", "curl_null")
# The hashing pipelines: coreutils' sha256sum (no SHA extensions in Debian 12's build) and
# OpenSSL's (which uses them, as the gateway's sha2 crate does).
HASHERS = {"curl_sha": "sha256sum", "curl_ossl": "openssl dgst -sha256 -r"}
LABELS = {
    "taskgate": "taskgate copy",
    "curl": "`curl -o`",
    "curl_sha": "`curl | tee | sha256sum`",
    "curl_ossl": "`curl | tee | openssl dgst -sha256`",
    "curl_null": "`curl -o /dev/null`",
}


# ---------------------------------------------------------------------------------------
# Small helpers


def http(method, url, body=None, key=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=timeout) as res:
        raw = res.read()
        return json.loads(raw) if raw else None


def wait_http(url, proc, log, limit=60):
    start = time.time()
    while time.time() - start < limit:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited; see {log}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def cpu_seconds(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    """User + system CPU seconds of every child this process has waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def parse_size(text):
    """`64M`, `512MiB`, `1G`, `64` (MiB) -> bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    for unit, factor in (("K", 1024), ("M", MIB), ("G", 1024 * MIB)):
        if t.endswith(unit):
            return int(float(t[:-1]) * factor)
    return int(float(t) * MIB)


def show_size(n):
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n} B"


def busy():
    """Whether a `cargo test` runs on the machine, and the 1-minute load average."""
    found = subprocess.run(["pgrep", "-f", "cargo test"], capture_output=True, text=True).stdout.split()
    return bool(found), os.getloadavg()[0]


def wait_for_quiet(minutes):
    """Waits (checking every minute, at most `minutes`) until no `cargo test` runs."""
    deadline = time.time() + minutes * 60
    while True:
        running, load = busy()
        if not running:
            return True
        if time.time() >= deadline:
            print(f"a `cargo test` still runs after {minutes} min (load {load:.2f}); measuring anyway", flush=True)
            return False
        print(f"a `cargo test` runs (load {load:.2f}); waiting for it to finish", flush=True)
        time.sleep(60)


def remove_files_below(path):
    for dirpath, _, files in os.walk(path):
        for name in files:
            os.remove(os.path.join(dirpath, name))


def median(values):
    return statistics.median(values) if values else 0.0


# ---------------------------------------------------------------------------------------
# The processes


class Run:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="taskgate-outputs-bench-", dir=args.tmp or None)
        self.outputs = os.path.join(self.tmp, "outputs")
        self.curl_dir = os.path.join(self.tmp, "curl")
        os.makedirs(self.outputs)
        os.makedirs(self.curl_dir)
        self.procs = []
        self.sim_url = f"http://127.0.0.1:{SIM_PORT}"
        self.gw_url = f"http://127.0.0.1:{GW_PORT}"
        self.admin_url = f"http://127.0.0.1:{ADMIN_PORT}"
        # size -> variant -> [{"seconds", "cpu", "sim_cpu"}]
        self.samples = {}
        self.last_url, self.last_sha = {}, {}
        self.loads = []
        self.cargo_test_seen = False
        self.checks = 0

    def start(self, cmd, log, env=None):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
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
                    p.wait()

    def start_sim(self):
        log = os.path.join(self.tmp, "sim.log")
        self.sim = self.start([self.args.sim_bin, "--listen", f"127.0.0.1:{SIM_PORT}", "--not-visible-ms", "0"], log,
                              env={**os.environ, "RUST_LOG": "warn"})
        wait_http(f"{self.sim_url}/_sim/stats", self.sim, log)

    def start_gateway(self):
        key_hash = subprocess.run([self.args.bin, "key", "hash", KEY], capture_output=True, text=True,
                                  check=True).stdout.strip()
        largest = max(self.args.sizes)
        text = CONFIG
        for k, v in {"@PORT@": str(GW_PORT), "@ADMIN@": str(ADMIN_PORT), "@DB@": os.path.join(self.tmp, "tasks.db"),
                     "@OUTPUTS@": self.outputs, "@MAX_BYTES@": str(max(largest + MIB, 2048 * MIB)),
                     "@SIM@": self.sim_url, "@KEYHASH@": key_hash}.items():
            text = text.replace(k, v)
        config = os.path.join(self.tmp, "taskgate.yaml")
        with open(config, "w") as f:
            f.write(text)
        log = self.gw_log = os.path.join(self.tmp, "gateway.log")
        self.gw = self.start([self.args.bin, "serve", "--config", config], log, env={**os.environ, "RUST_LOG": "warn"})
        wait_http(f"{self.admin_url}/healthz", self.gw, log)

    # -----------------------------------------------------------------------------------
    # The variants

    def copy_metrics(self):
        """(copy seconds sum, copies count, bytes stored) from the gateway's /metrics."""
        text = urllib.request.urlopen(f"{self.admin_url}/metrics", timeout=10).read().decode()
        found = {}
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            if name in ("taskgate_output_copy_seconds_sum", "taskgate_output_copy_seconds_count",
                        "taskgate_output_copy_bytes_total"):
                found[name] = float(value)
        if len(found) != 3:
            raise SystemExit(f"the gateway's /metrics lacks the output copy metrics (found {sorted(found)})")
        return (found["taskgate_output_copy_seconds_sum"], found["taskgate_output_copy_seconds_count"],
                found["taskgate_output_copy_bytes_total"])

    def gateway_copy(self, size):
        """One task whose output is `size` bytes, copied by the gateway; the copy's seconds
        (from the metric), the gateway's and the simulator's CPU seconds meanwhile."""
        before = self.copy_metrics()
        cpu0, sim0 = cpu_seconds(self.gw.pid), cpu_seconds(self.sim.pid)
        body = {"type": "text_to_video",
                "input": {"prompt": "a red fox runs through snow",
                          "extra": {"sim": {"output_bytes": size, "queued_ms": 50, "run_ms": 100}}}}
        task = http("POST", f"{self.gw_url}/v1/tasks", body, KEY)
        deadline = time.time() + 600
        while task.get("status") not in ("succeeded", "failed", "canceled"):
            if time.time() > deadline:
                raise SystemExit(f"task {task.get('id')} not finished after 600 s; see {self.gw_log}")
            task = http("GET", f"{self.gw_url}/v1/tasks/{task['id']}?wait=20", key=KEY, timeout=60)
        cpu, sim_cpu = cpu_seconds(self.gw.pid) - cpu0, cpu_seconds(self.sim.pid) - sim0
        after = self.copy_metrics()
        out = (task.get("outputs") or [{}])[0]
        if task["status"] != "succeeded" or out.get("stored") is not True or out.get("size_bytes") != size:
            raise SystemExit(f"the copy did not store {size} bytes: {json.dumps(task)[:800]}")
        seconds, count, stored = (a - b for a, b in zip(after, before))
        if count != 1 or stored != size:
            raise SystemExit(f"metrics moved by {count} copies and {stored} bytes, expected 1 and {size}")
        self.last_url[size] = out["provider_url"]
        self.last_sha[size] = out["sha256"]
        remove_files_below(self.outputs)
        return {"seconds": seconds, "cpu": cpu, "sim_cpu": sim_cpu}

    def curl(self, size, variant):
        url = self.last_url[size]
        path = os.path.join(self.curl_dir, "out.mp4")
        sim0, kids0 = cpu_seconds(self.sim.pid), children_cpu()
        if variant in HASHERS:
            cmd = f"set -o pipefail; curl -s -S '{url}' | tee '{path}' | {HASHERS[variant]}"
            t0 = time.perf_counter()
            res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if res.returncode != 0:
                raise SystemExit(f"{cmd}: {res.stderr}")
            digest = res.stdout.split()[0]
            # The file is the one the gateway stored last for this size: same bytes, same hash.
            if digest != self.last_sha[size]:
                raise SystemExit(f"sha256 differs: curl {digest}, taskgate {self.last_sha[size]}")
            self.checks += 1
            got = os.path.getsize(path)
        else:
            target = "/dev/null" if variant == "curl_null" else path
            res = subprocess.run(["curl", "-s", "-S", "-o", target, "-w", "%{time_total} %{size_download}", url],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(f"curl {url}: {res.stderr}")
            seconds, got = float(res.stdout.split()[0]), int(res.stdout.split()[1])
        if got != size:
            raise SystemExit(f"curl got {got} bytes of {size}")
        cpu = children_cpu() - kids0
        sim_cpu = cpu_seconds(self.sim.pid) - sim0
        if os.path.exists(path):
            os.remove(path)
        return {"seconds": seconds, "cpu": cpu, "sim_cpu": sim_cpu}

    def measure(self, size, variant):
        if variant == "taskgate":
            return self.gateway_copy(size)
        return self.curl(size, variant)

    def round(self, r):
        running, load = busy()
        self.cargo_test_seen |= running
        self.loads.append(load)
        for size in self.args.sizes:
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                s = self.measure(size, variant)
                self.samples.setdefault(size, {}).setdefault(variant, []).append(s)
            line = "  ".join(f"{v} {size / MIB / self.samples[size][v][-1]['seconds']:7.0f}" for v in VARIANTS)
            print(f"round {r + 1} {show_size(size):>9}: MiB/s  {line}", flush=True)

    def warm_up(self):
        """One small copy and the curls of it, so first-use costs land on no measured round."""
        small = MIB
        self.gateway_copy(small)
        for v in VARIANTS[1:]:
            self.curl(small, v)

    def profile(self, out):
        """`perf record` of the gateway during one more copy of the largest size."""
        size = max(self.args.sizes)
        data = os.path.join(self.tmp, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-e", "cpu-clock", "-p", str(self.gw.pid),
                                 "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        s = self.gateway_copy(size)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        with open(out, "w") as f:
            f.write(f"# perf profile of taskgate during one copy of {show_size(size)} "
                    f"({size / MIB / s['seconds']:.0f} MiB/s)\n# self time by symbol, then by shared object\n\n")
            f.flush()
            for sort in ("symbol", "dso"):
                subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort, "--percent-limit",
                                "0.5", "--stdio", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL, check=False)
                f.flush()
        os.remove(data)
        print(f"profile written to {out}", flush=True)


# ---------------------------------------------------------------------------------------
# The report


# The machine's description, as the other reports write it.
from report import cpu_model, version  # noqa: E402


def command(args):
    parts = ["python3", "bench/outputs_bench.py", "--bin", args.bin_arg, "--sim-bin", args.sim_bin_arg]
    if args.rounds != 3:
        parts += ["--rounds", str(args.rounds)]
    if args.sizes_arg != "64M,512M":
        parts += ["--sizes", args.sizes_arg]
    if args.quiet_wait:
        parts += ["--quiet-wait", str(args.quiet_wait)]
    if args.profile:
        parts += ["--profile", args.profile]
    return " ".join(parts)


def section(run, args, started):
    rows, verdicts = [], []
    for size in args.sizes:
        s = run.samples[size]
        mibs = {v: [size / MIB / x["seconds"] for x in s[v]] for v in VARIANTS}
        med = {v: median(mibs[v]) for v in VARIANTS}
        ratio = med["taskgate"] / med["curl"] if med["curl"] else 0.0
        ratio_sha = med["taskgate"] / med["curl_sha"] if med["curl_sha"] else 0.0
        ratio_ossl = med["taskgate"] / med["curl_ossl"] if med["curl_ossl"] else 0.0
        # CPU per GiB moved, of the copying process(es) and of the simulator serving it.
        gib = size / (1024 * MIB)
        cpu_gw = median([x["cpu"] for x in s["taskgate"]]) / gib
        cpu_curl = median([x["cpu"] for x in s["curl"]]) / gib
        sim_gw = median([x["sim_cpu"] for x in s["taskgate"]]) / gib
        sim_curl = median([x["sim_cpu"] for x in s["curl"]]) / gib
        per_round = lambda v: "[" + ", ".join(f"{x:.0f}" for x in mibs[v]) + "]"
        rows.append(f"| {show_size(size)} | {med['taskgate']:.0f} | {med['curl']:.0f} | **{ratio:.2f}×** | "
                    f"{med['curl_sha']:.0f} | {ratio_sha:.2f}× | {med['curl_ossl']:.0f} | {ratio_ossl:.2f}× | "
                    f"{med['curl_null']:.0f} | "
                    f"{cpu_gw:.2f} / {cpu_curl:.2f} | {sim_gw:.2f} / {sim_curl:.2f} | "
                    f"{per_round('taskgate')} | {per_round('curl')} |")
        verdicts.append(f"{show_size(size)} {ratio:.2f}× ({'met' if ratio >= 0.8 else 'NOT met'})")
    loads = f"{min(run.loads):.2f}–{max(run.loads):.2f}" if run.loads else "?"
    quiet = ("a `cargo test` was running on the machine during some rounds"
             if run.cargo_test_seen else "no `cargo test` was running when the rounds began")
    sizes = " and ".join(show_size(s) for s in args.sizes)
    return f"""{MARK_START}
## Durable outputs: copy throughput

From the run `{command(args)}` on {started}: {cpu_model()}, {os.cpu_count()} cores shared by the
simulator, the gateway and curl; kernel {platform.release()}; {' '.join(version(['curl', '--version']).split()[:2])}. Load
average (1 min) at the start of the rounds {loads}; {quiet}.

- Upstream: the simulator (`taskgate-sim`, release build) serving a succeeded makevid task's
  output at `/_sim/out/{{id}}.mp4` in 64 KiB chunks of generated bytes, on loopback.
- taskgate (release build, SQLite store, `RUST_LOG=warn`) with `outputs.storage: {{kind:
  local}}`; each measurement is one task whose output is the given size; its copy's time is the
  delta of `taskgate_output_copy_seconds_sum` (one copy, `taskgate_output_copy_bytes_total`
  moved by the size, checked): the provider GET, streaming, sha256, the file write and its
  rename, not the task's simulated run nor the watcher's wait before the copy.
- Baseline: `curl -s -o FILE URL` (curl's `%{{time_total}}`) of a file of the same size from the
  same simulator, written into the same temporary directory (same disk) as the gateway's
  storage. Also `curl -s URL | tee FILE | sha256sum` and the same with `openssl dgst -sha256`
  (wall time; the same work as the gateway's: write and hash; coreutils' sha256sum here does
  not use the CPU's SHA extensions, OpenSSL and the gateway's sha2 crate do; each hash matched
  the one the gateway stored for the same file, {run.checks} checks) and `curl -o /dev/null`
  (what the simulator serves at most, one reader).
- {args.rounds} rounds × {sizes}; every variant once per size and round, the order reversed every
  other round; each file deleted once measured (nothing fsynced by either side: the writes
  land in the page cache, so this compares the copy paths, not the disk). Medians of rounds.
- CPU s/GiB: user+system CPU seconds per GiB moved, of the gateway process / of curl, and
  of the simulator while serving each of them.

| size | taskgate MiB/s | `curl -o` MiB/s | taskgate / `curl -o` | `curl \\| tee \\| sha256sum` MiB/s | taskgate / that | `curl \\| tee \\| openssl dgst -sha256` MiB/s | taskgate / that | `curl -o /dev/null` MiB/s | CPU s/GiB taskgate / curl | simulator CPU s/GiB (taskgate / curl) | taskgate MiB/s per round | `curl -o` MiB/s per round |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |
{chr(10).join(rows)}

Target ≥ 0.8× `curl -o` in the same run: {'; '.join(verdicts)}.
{MARK_END}"""


def write_section(path, text):
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "# Benchmarks\n"
    i = old.find(MARK_START)
    j = old.find(MARK_END, i)
    if i >= 0 and j >= 0:
        new = old[:i] + text + old[j + len(MARK_END):]
    else:
        # At the end: the part bench/run.py keeps when it rewrites the file.
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(new)


def binary(path, name):
    path = os.path.abspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, name)
    if not os.access(path, os.X_OK):
        raise SystemExit(f"no executable at {path}")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="taskgate's release binary (or its directory)")
    ap.add_argument("--sim-bin", required=True, help="taskgate-sim's release binary (or its directory)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="64M,512M", help="comma-separated output sizes (64M, 1G; a bare number is MiB)")
    ap.add_argument("--tmp", default="", help="directory for the gateway's storage and curl's files (default: the system's)")
    ap.add_argument("--quiet-wait", type=int, default=0, metavar="MINUTES",
                    help="first wait up to this long (checking every minute) for running `cargo test`s to finish")
    ap.add_argument("--profile", default="", metavar="FILE", help="also `perf record` the gateway during one more copy of the largest size; summary to FILE")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = ap.parse_args()
    args.bin_arg, args.sim_bin_arg, args.sizes_arg = args.bin, args.sim_bin, args.sizes
    args.bin, args.sim_bin = binary(args.bin, "taskgate"), binary(args.sim_bin, "taskgate-sim")
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed")
    run = Run(args)
    try:
        run.start_sim()
        run.start_gateway()
        run.warm_up()
        if args.quiet_wait:
            wait_for_quiet(args.quiet_wait)
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        for r in range(args.rounds):
            run.round(r)
        if args.profile:
            run.profile(os.path.abspath(args.profile))
    finally:
        run.stop_all()
        shutil.rmtree(run.tmp, ignore_errors=True)
    text = section(run, args, started)
    print(text)
    if not args.no_write:
        write_section(args.out, text)
        print(f"section written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
