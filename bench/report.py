"""Writes BENCHMARKS.md from a finished Bench run."""

import datetime
import platform
import subprocess


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ratio(a, b):
    return a / b if b else 0.0


HAND_WRITTEN = "## What the runs showed"


def kept_findings(path):
    """The hand-written part at the end of the existing report, kept across runs."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    at = text.find(HAND_WRITTEN)
    return text[at:] if at >= 0 else ""


def write_report(b, args):
    r = b.results
    ng = r.get("(a) nginx: provider poll", {})
    rows = []
    for name, m in r.items():
        if ", c=" in name or name.startswith("soak") or name.endswith(" tasks"):
            continue
        cpu = f"{m['cpu_per_100k']:.2f}" if "cpu_per_100k" in m else "–"
        rss = f"{m['peak_rss_mib']:.1f}" if "peak_rss_mib" in m else "–"
        rows.append(f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | {m['max']:.2f} | {m['errors']} | {cpu} | {rss} | {m['rounds']} |")

    def target(label, name, need_rps, need_p99=None):
        m = r.get(name)
        if not m or not ng:
            return f"| {label} | – | – | not measured |"
        rr = ratio(m["rps"], ng["rps"])
        pr = ratio(m["p99"], ng["p99"])
        ok = rr >= need_rps and (need_p99 is None or pr <= need_p99)
        want = f"≥ {need_rps}× rps" + (f", p99 ≤ {need_p99}×" if need_p99 else "")
        return f"| {label} | {rr:.2f}× | {pr:.2f}× | {want}: {'met' if ok else 'NOT met'} |"

    curve = "\n".join(
        f"| {c} | {d['rps']:.0f} | {d['p99']:.2f} | {e['rps']:.0f} | {e['p99']:.2f} |" for c, d, e in getattr(b, "curve", [])
    )
    sizes = "\n".join(
        f"| {n:,} | {c['rps']:.0f} | {c['p99']:.2f} | {d['rps']:.0f} | {d['p99']:.2f} | {e['rps']:.0f} | {e['p99']:.2f} | {rss / 1024:.1f} |"
        for n, c, d, e, rss in getattr(b, "store_curve", [])
    )
    peer = r.get("(f) LiteLLM: GET /v1/videos/{id}")
    tg_read = r.get("(c) taskgate: refreshed reads")
    if peer and tg_read:
        rr, pr = ratio(tg_read["rps"], peer["rps"]), ratio(tg_read["p99"], peer["p99"])
        ok = rr >= 100 and pr <= 1 / 50
        litellm = (f"| status reads: taskgate (c) / LiteLLM (f) | {rr:.1f}× | {pr:.3f}× | ≥ 100× rps, p99 ≤ 1/50: "
                   f"{'met' if ok else 'NOT met'} |")
    else:
        litellm = "| status reads against LiteLLM | – | – | not measured (run with `--litellm`) |"
    profiles = sorted(getattr(b, "profiles", []))
    profile_text = ("\n## Profiles\n\n`perf record -g` of taskgate during one extra round of each scenario "
                    "(`--profile`): " + ", ".join(f"[{p}](bench/profiles/{p})" for p in profiles) + ".\n") if profiles else ""
    text = f"""# Benchmarks

Produced by one run of the harness (`{' '.join(['python3', 'bench/run.py'] + [f for f, on in (('--quick', args.quick), ('--litellm', args.litellm), ('--profile', args.profile)) if on])}`) on
{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Every figure below comes from that
run; ratios compare targets measured side by side in it.

## Machine and versions

- CPU: {cpu_model()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; the load generator, the
  simulator, nginx and taskgate all share them.
- {version(['rustc', '--version'])}; {version(['nginx', '-v'])}; {version(['wrk', '-v'])}
- Kernel: {platform.release()}{f"; LiteLLM {b.peer_version} (proxy, 1 worker, runwayml provider)" if getattr(b, "peer_version", None) else ""}

## Method

- Upstream: the provider simulator (`taskgate-sim`, release build), every provider on one port.
- Reference: nginx as a plain reverse proxy to the simulator (keep-alive upstream, no access log).
- taskgate: release build, SQLite store, one tenant without limits, `RUST_LOG=warn`,
  `tasks.refresh_after: 1ms` (so scenario (c) refreshes on every read), watcher idle.
- Load: `wrk -t2 -c{args.connections} -d{args.seconds}s --latency`, {args.rounds} round(s) per scenario, medians.
- (f) LiteLLM's proxy (`--litellm`, its own virtualenv) with its `runwayml` video provider pointed at the
  simulator's Runway dialect; its GET polls the provider like (c) does; CPU and RSS columns are LiteLLM's.
- (c) and (d) read 2,000 distinct tasks at random, so single-flight cannot merge reads.
- CPU s/100k: taskgate's user+system CPU seconds per 100,000 requests; RSS: taskgate's peak.

## Scenarios

| scenario | req/s | p50 ms | p99 ms | max ms | errors | CPU s/100k | peak RSS MiB | req/s per round |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{chr(10).join(rows)}

## Targets (ratios against nginx in the same run)

| target | req/s ratio | p99 ratio | verdict |
| --- | ---: | ---: | --- |
{target('(b) pass-through', '(b) taskgate: pass-through poll', 0.9, 1.5)}
{target('(c) refreshed reads', '(c) taskgate: refreshed reads', 0.5)}
{target('(d) finished reads', '(d) taskgate: finished reads', 1.0)}
{target('(e) creates on SQLite', '(e) taskgate: creates (SQLite)', 0.25)}
{litellm}

## Scale with concurrency (one round each)

| connections | (d) req/s | (d) p99 ms | (e) req/s | (e) p99 ms |
| ---: | ---: | ---: | ---: | ---: |
{curve}

## Scale with the store (one round each, {min(args.seconds, 5)} s, 64 connections)

The store is filled with creates up to each size; (c) and (d) read the same 2,000 tasks.

| tasks stored | (c) req/s | (c) p99 ms | (d) req/s | (d) p99 ms | (e) req/s | (e) p99 ms | RSS MiB |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{sizes}

## Memory

- Idle RSS after start: {b.idle_rss / 1024:.1f} MiB (target ≤ 20 MiB).
- RSS after ~100k soak requests: {getattr(b, 'rss_100k', 0) / 1024:.1f} MiB; after ~1M: {getattr(b, 'rss_1m', 0) / 1024:.1f} MiB
  (target: within 10 %{'' if not getattr(b, 'rss_100k', 0) else f'; measured {100 * (b.rss_1m / b.rss_100k - 1):+.1f} %'}).
- RSS at the end of the run: {getattr(b, 'final_rss', 0) / 1024:.1f} MiB; peak {getattr(b, 'peak_rss', 0) / 1024:.1f} MiB.

{chr(10).join(b.notes)}
{profile_text}
{kept_findings(args.out)}"""
    with open(args.out, "w") as f:
        f.write(text)
