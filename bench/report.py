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


QUEUE_CLAUSE = " The queue's sections ((g), (h)) name the run they come from."


def command(args):
    flags = [f for f, on in (('--quick', args.quick), ('--litellm', args.litellm), ('--profile', args.profile),
                             ('--queue', getattr(args, 'queue', False))) if on]
    if args.only:
        flags.append(f"--only {args.only}")
    for flag, value, default in (("--connections", args.connections, 64), ("--seconds", args.seconds, 10),
                                 ("--rounds", args.rounds, 3)):
        if value != default and not args.quick:
            flags.append(f"{flag} {value}")
    if getattr(args, "bin", ""):
        flags.append(f"--bin {args.bin}")
    if getattr(args, "before_bin", ""):
        flags.append(f"--before-bin {args.before_bin}")
    return ' '.join(['python3', 'bench/run.py'] + flags)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


def _med(values):
    values = sorted(values)
    n = len(values)
    return (values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2) if n else 0.0


def duration_ms(text):
    """`50ms`, `1s`, `2m` -> milliseconds (what the harness passes; 0 if unknown)."""
    for unit, factor in (("ms", 1.0), ("s", 1000.0), ("m", 60000.0), ("h", 3600000.0)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * factor
    return 0.0


def section_g(b, args):
    setup = b.queue_g_setup
    names = {"sqlite": "SQLite", "postgres": f"PostgreSQL {getattr(b, 'pg_version', '')}".strip()}
    rows = []
    meds = {}
    for store, runs in b.queue_g.items():
        m = {k: _med([r[k] for r in runs]) for k in ("dispatch_rate", "done_rate", "create_rate", "dispatched_s",
                                                      "done_s", "create_p50_ms", "create_p99_ms", "cpu_ms_per_task",
                                                      "max_depth")}
        m["errors"] = sum(r["errors"] + r["failed"] for r in runs)
        m["queued"] = _med([r["queued"] for r in runs])
        meds[store] = m
        rows.append(f"| {names[store]} | {m['dispatch_rate']:.0f} | {m['done_rate']:.0f} | {m['dispatched_s']:.2f} | "
                    f"{m['done_s']:.2f} | {m['create_rate']:.0f} | {m['create_p50_ms']:.1f} / {m['create_p99_ms']:.1f} | "
                    f"{m['queued']:.0f} | {m['cpu_ms_per_task']:.2f} | {m['errors']} | "
                    f"{[round(r['dispatch_rate']) for r in runs]} |")
    ratio_line = ""
    if "sqlite" in meds and "postgres" in meds:
        ratio_line = (f"\nPostgreSQL / SQLite in this run: {ratio(meds['postgres']['dispatch_rate'], meds['sqlite']['dispatch_rate']):.2f}× "
                      f"tasks/s dispatched, {ratio(meds['postgres']['done_rate'], meds['sqlite']['done_rate']):.2f}× to completion, "
                      f"{ratio(meds['postgres']['create_rate'], meds['sqlite']['create_rate']):.2f}× burst creates/s.\n")
    slots, watch = setup["slots"], setup["watch"]
    watch_ms = duration_ms(watch)
    tick_ms = min(max(watch_ms / 5, 50.0), 1000.0)
    ceiling = slots / ((watch_ms + tick_ms / 2) / 1000) if watch_ms else 0.0
    notes = "\n".join(n for n in getattr(b, "queue_notes", []) if n.startswith("- (g)"))
    return f"""<!-- bench:g -->
## Queue (g): dispatch throughput

From the run `{command(args)}` on {now_utc()}, same machine as above{'' if not args.only else ' (a partial run: the other sections come from the run named at the top)'}.

- Provider: the simulator's makevid dialect with `max_concurrent: {slots}`; every simulated task
  finishes at once (`/_sim/scenario` `{{"queued_ms": 0, "run_ms": 1}}`), so a slot frees as soon
  as the watcher sees its task finished: `tasks.watch_every: {watch}` (the watcher's tick is
  a fifth of it, at least 50 ms), one tenant with `max_queued: 100000`.
- Each round: a fresh store (a new SQLite file; the PostgreSQL schema dropped and created
  again) and a fresh gateway; a burst of {setup['tasks']:,} creates from {setup['threads']} keep-alive
  connections (Python threads); `/metrics` read every {setup['poll_ms']} ms for
  `taskgate_queue_depth` and `taskgate_provider_in_flight`. "Queue empty" is the first
  reading, after the last create was answered, with no task waiting; "all finished" the
  first with none waiting and none at the provider. Tasks/s = {setup['tasks']:,} / that time from the
  first create. {setup['rounds']} round(s) per store, SQLite and PostgreSQL alternating; medians.
- PostgreSQL: local server, the gateway's default pool (8 connections), its own schema
  (`options=-c search_path=...`), dropped after the run. The claim's advisory lock is per
  database, so other users of the database running claims at the same time would slow it.
  Gateway CPU counts the gateway process only: SQLite's work is in it, PostgreSQL's is not.
- The ceiling set by the method: a slot is held from dispatch until the watcher's first
  refresh of the task, due `watch_every` after the provider accepted it and picked up on the
  watcher's next tick (every {tick_ms:.0f} ms here), so {slots} slots cannot pass much more than
  {slots} / ({watch_ms:.0f} + {tick_ms / 2:.0f} ms) ≈ {ceiling:.0f} tasks/s, whatever the store.

| store | tasks/s dispatched | tasks/s to completion | queue empty at s | all finished at s | burst creates/s | create p50 / p99 ms | answered `queued` | gateway CPU ms/task | errors | tasks/s dispatched per round |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{chr(10).join(rows)}
{ratio_line}{(chr(10) + notes + chr(10)) if notes else ''}
<!-- /bench:g -->"""


def section_h(b, args):
    h = b.queue_h
    rev = getattr(b, "before_rev", args.before_rev)
    tree = f" (`{b.tree_rev}`)" if getattr(b, "tree_rev", "") else ""
    label = {
        "before": f"before: `{rev}` (upstream call, then one insert)",
        "after": f"after: this tree{tree}, no `max_concurrent` (insert, upstream call, update)",
        "claim": "after, claim path: `max_concurrent: 100000` (insert, queue count, claim, upstream call, update)",
    }
    old = h["before"]
    rows = []
    for name in ("before", "after", "claim"):
        m = h[name]
        vs = "1.00×" if name == "before" else f"{ratio(m['rps'], old['rps']):.2f}×"
        p99 = "1.00×" if name == "before" else f"{ratio(m['p99'], old['p99']):.2f}×"
        rows.append(f"| {label[name]} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | {m['max']:.2f} | {m['errors']} | "
                    f"{m['cpu_per_100k']:.2f} | {vs} | {p99} | {m['rounds']} |")
    in_flight = getattr(b, "queue_h_in_flight", [])
    notes = "\n".join(n for n in getattr(b, "queue_notes", []) if n.startswith("- (h)"))
    return f"""<!-- bench:h -->
## Queue (h): creates before and after the store-first path

From the run `{command(args)}` on {now_utc()}, same machine as above{'' if not args.only else ' (a partial run: the other sections come from the run named at the top)'}.

- Scenario (e) (`POST /v1/tasks`, `wrk -t2 -c{args.connections} -d{args.seconds}s`, the simulator's makevid
  dialect, tasks that stay unfinished, watcher idle) against three gateways, one at a time,
  rounds alternating between them ({args.rounds} each, medians); every round on a fresh
  gateway process and a fresh SQLite file.
- before: the release build of commit `{rev}` (this branch's base, `main`), built in a git
  worktree of its own; after: this tree's release build, same `bench/taskgate.yaml`.
- claim path: this tree with the provider at `max_concurrent: 100000`, which no round fills
  (unfinished tasks at the provider at the end of each round: {', '.join(f'{n:,}' for n in in_flight) or '–'});
  the claim counts those in its transaction, so its cost grows with them over a round.
- Ratios: against "before" in this run. CPU s/100k: the gateway's CPU seconds per 100,000
  creates.

| build | req/s | p50 ms | p99 ms | max ms | errors | CPU s/100k | req/s vs before | p99 vs before | req/s per round |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{chr(10).join(rows)}
{notes}
<!-- /bench:h -->"""


def _sections(b, args):
    out = {}
    if getattr(b, "queue_g", None):
        out["g"] = section_g(b, args)
    if getattr(b, "queue_h", None):
        out["h"] = section_h(b, args)
    return out


def _existing(text, letter):
    start, end = f"<!-- bench:{letter} -->", f"<!-- /bench:{letter} -->"
    i = text.find(start)
    j = text.find(end, i)
    return (i, j + len(end)) if i >= 0 and j >= 0 else None


def queue_block(b, args, old_text):
    """The queue's sections: this run's, or those kept from the file's earlier run."""
    new = _sections(b, args)
    parts = []
    for letter in ("g", "h"):
        if letter in new:
            parts.append(new[letter])
        else:
            at = _existing(old_text, letter)
            if at:
                parts.append(old_text[at[0]:at[1]])
    return "\n\n".join(parts)


def merge_queue_sections(b, args):
    """A partial run: replaces (or adds) the queue's sections in the existing file, leaving
    every other section as it was."""
    try:
        with open(args.out) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\n"
    for letter, section in _sections(b, args).items():
        at = _existing(text, letter)
        if at:
            text = text[:at[0]] + section + text[at[1]:]
            continue
        # New: after the other queue section if there is one, else before the profiles
        # or the hand-written part.
        other = _existing(text, "g" if letter == "h" else "h")
        if other and letter == "h":
            pos = other[1]
            section = "\n\n" + section
        elif other:
            pos = other[0]
            section = section + "\n\n"
        else:
            for marker in ("## Profiles", HAND_WRITTEN):
                pos = text.find(marker)
                if pos >= 0:
                    break
            else:
                pos = len(text)
            section = section + "\n\n"
        text = text[:pos] + section + text[pos:]
    if QUEUE_CLAUSE.strip() not in text:
        text = text.replace("ratios compare targets measured side by side in it.",
                            "ratios compare targets measured side by side in it." + QUEUE_CLAUSE, 1)
    with open(args.out, "w") as f:
        f.write(text)


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
    try:
        with open(args.out) as f:
            old_text = f.read()
    except OSError:
        old_text = ""
    queue = queue_block(b, args, old_text)
    text = f"""# Benchmarks

Produced by one run of the harness (`{command(args)}`) on
{now_utc()}. Every figure below comes from that
run; ratios compare targets measured side by side in it.{QUEUE_CLAUSE if queue else ''}

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
{(chr(10) + queue + chr(10)) if queue else ''}{profile_text}
{kept_findings(args.out)}"""
    with open(args.out, "w") as f:
        f.write(text)
