#!/usr/bin/env python3
"""Table and JSON report of bench/host.sh: report.py RESULTS.tsv TMPDIR OUT.json key=value..."""

import json
import os
import sys

results_path, tmp, out_path, *meta_args = sys.argv[1:]
meta = dict(arg.split("=", 1) for arg in meta_args)
results = {}
for line in open(results_path):
    name, _, value = line.rstrip("\n").partition("\t")
    try:
        results[name] = json.loads(value) if value else None
    except json.JSONDecodeError:
        results[name] = value

TARGETS = {
    "sync_gantry_c64": ("rps", ">=", 30000, "≥ 30,000 req/s"),
    "status_c8": ("p99_ms", "<=", 1.0, "p99 ≤ 1 ms"),
    "webhook_c64": ("rps", ">=", 1500, "≥ 1,500 req/s"),
    "rss_queued_mb": (None, "<=", 300, "≤ 300 MB"),
}


def cpu_ms_per_request(name):
    """Server CPU per request over a load point: warm-up requests ran too, so the CPU is spread over all of them."""
    r, cpu = results.get(name) or {}, results.get(f"{name}_cpu_s")
    if not r.get("completed") or cpu is None or not r.get("seconds"):
        return None
    return 1000 * float(cpu) / (r["completed"] * r["wall_seconds"] / r["seconds"])


def verdict(name, value):
    if name not in TARGETS or value is None:
        return ""
    _, op, limit, text = TARGETS[name]
    ok = value >= limit if op == ">=" else value <= limit
    return f"{text}  {'MET' if ok else 'MISSED'}"


def num(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


rows = []
checks = {}


def row(label, conc, name, extra=""):
    r = results.get(name) or {}
    rps, p50, p99 = r.get("rps"), r.get("p50_ms"), r.get("p99_ms")
    if name in TARGETS:
        key = TARGETS[name][0]
        checks[name] = {"value": r.get(key), "target": TARGETS[name][3], "met": "MET" in verdict(name, r.get(key))}
    errors = (r.get("errors") or 0) + (r.get("non2xx") or 0)
    if errors:
        extra = (extra + f"  errors {errors}").strip()
    rows.append((label, str(conc), num(rps), num(p50, 3), num(p99, 3), verdict(name, r.get(TARGETS.get(name, ("rps",))[0])), extra))


for c in (1, 8, 64):
    g, n = results.get(f"sync_gantry_c{c}") or {}, results.get(f"sync_nginx_c{c}") or {}
    ratio = f"{100 * g['rps'] / n['rps']:.0f}% of nginx" if g.get("rps") and n.get("rps") else ""
    row("sync POST /gantry/echo", c, f"sync_gantry_c{c}", ratio)
    if c == 64 and g.get("rps") and n.get("rps"):
        checks["sync_c64_quarter_of_nginx"] = {"value": g["rps"] / n["rps"], "target": "≥ 25 % of nginx", "met": g["rps"] >= 0.25 * n["rps"]}
for c in (1, 8, 64):
    row("nginx return 200 (ceiling)", c, f"sync_nginx_c{c}")
for c in (8, 64):
    q, peer = results.get(f"queue_c{c}") or {}, results.get(f"runpod_c{c}") or {}
    mine, theirs = cpu_ms_per_request(f"queue_c{c}"), cpu_ms_per_request(f"runpod_c{c}")
    note = f"{q.get('polls_per_request', 0):.2f} polls/req" if q else ""
    if mine is not None:
        note += f", {mine:.3f} ms CPU/req"
    target = ""
    if q.get("rps") and peer.get("rps") and mine is not None and theirs is not None:
        met = q["rps"] >= peer["rps"] and mine <= theirs
        target = f"≥ RunPod's req/s, ≤ its CPU  {'MET' if met else 'MISSED'}"
        checks[f"queue_c{c}_vs_runpod"] = {"value": [q["rps"], mine], "peer": [peer["rps"], theirs], "met": met}
    rows.append(("queue submit→status→result", str(c), num(q.get("rps")), num(q.get("p50_ms"), 3), num(q.get("p99_ms"), 3), target, note))
for c in (8, 64):
    peer, theirs = results.get(f"runpod_c{c}") or {}, cpu_ms_per_request(f"runpod_c{c}")
    if peer:
        row("RunPod local API /run→/status (peer)", c, f"runpod_c{c}",
            f"{peer.get('polls_per_request', 0):.2f} polls/req" + (f", {theirs:.3f} ms CPU/req" if theirs is not None else ""))
hook_cpu = cpu_ms_per_request("webhook_c64")
row("completion by webhook (submit→webhook)", 64, "webhook_c64", f"{hook_cpu:.3f} ms CPU/req" if hook_cpu is not None else "")
status = results.get("status_c8") or {}
def count_lines(name):
    path = os.path.join(tmp, name)
    return len(open(path).read().split()) if os.path.exists(path) else 0


n_stored = count_lines("ids.txt")
row(f"GET status, {n_stored:,} stored", 8, "status_c8",
    f"p99.9 {status.get('p999_ms', 0):.3f} ms")

rss_idle = (results.get("rss_idle_kb") or 0) / 1024
rss_queued = (results.get("rss_queued_kb") or 0) / 1024
hwm_queued = (results.get("hwm_queued_kb") or 0) / 1024
n_queued = count_lines("queued.txt")
checks["stored"] = n_stored
checks["queued"] = n_queued
checks["rss_queued_mb"] = {"value": rss_queued, "target": TARGETS["rss_queued_mb"][3], "met": rss_queued <= 300}

head = ("measurement", "conc", "req/s", "p50 ms", "p99 ms", "target", "note")
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
lines = []
lines.append(f"Gantry host benchmark {os.path.basename(out_path)[5:-5]}  git {meta.get('git')}")
lines.append(f"machine: {meta.get('nproc')} cores ({meta.get('cpu')}), {meta.get('mem_gib')} GiB; server, wrk/gantry-loadgen and nginx "
             f"all share these {meta.get('nproc')} cores; /tmp on {meta.get('tmp_fs')}; store sqlite; server log level {meta.get('log_level')}")
lines.append(f"sync: wrk ({meta.get('wrk')}), -t1 at c≤8, -t2 at c=64, {results.get('sync_gantry_c1', {}).get('seconds', 0):.0f} s each; "
             f"nginx {meta.get('nginx')} worker_processes 2, same {meta.get('echo_reply_bytes')}-byte JSON reply")
lines.append(f"queue: gantry-loadgen, one keep-alive connection per client, status polled with "
             f"{'no sleep' if float(meta.get('poll_interval_ms', 0)) == 0 else meta.get('poll_interval_ms') + ' ms sleep'}; "
             f"latency = submit sent → result received")
lines.append("")
lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
lines.append("  ".join("-" * w for w in widths))
for r in rows:
    lines.append("  ".join(str(v).ljust(w) if i in (0, 5, 6) else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip())
lines.append("")
for label, n, want, cap in (("stored", n_stored, meta.get("stored"), meta.get("fill_max_s")), ("queued", n_queued, meta.get("queued"), meta.get("queued_max_s"))):
    if want and n < int(want):
        lines.append(f"NOTE: only {n:,} of {int(want):,} requests {label} within the {cap} s cap (see submits/s below)")
queued_submit = results.get("queued_submit") or {}
queued_ok = n_queued >= int(meta.get("queued", 0) or 0) and queued_submit.get("wall_seconds", 1e9) <= 60
checks["queued_within_60s"] = {"value": queued_submit.get("wall_seconds"), "target": "≤ 60 s", "met": queued_ok}
lines.append(f"{n_queued:,} queued behind a blocked function in {queued_submit.get('wall_seconds', 0):.1f} s   "
             f"target ≤ 60 s  {'MET' if queued_ok else 'MISSED'}")
attempts = [v for k, v in results.items() if k.startswith("attempts_") and isinstance(v, dict)]
retried, lost = sum(a.get("retried", 0) for a in attempts), sum(a.get("leases_lost", 0) for a in attempts)
checks["second_attempts"] = {"value": retried, "leases_lost": lost, "target": "0", "met": retried == 0 and lost == 0}
lines.append(f"second attempts across every gantry run: {retried:g} (leases lost: {lost:g}) over {len(attempts)} hosts   "
             f"target 0  {'MET' if retried == 0 and lost == 0 else 'MISSED'}")
lines.append(f"RSS idle {rss_idle:.1f} MB; with {n_queued:,} queued {rss_queued:.1f} MB (peak VmHWM {hwm_queued:.1f} MB)   "
             f"target ≤ 300 MB  {'MET' if rss_queued <= 300 else 'MISSED'}")
fs, fd, qs = results.get("fill_submit") or {}, results.get("fill_drain") or {}, results.get("queued_submit") or {}
lines.append(f"bulk submit: {fs.get('rps', 0):,.0f} submits/s while the worker ran them (c=64); "
             f"{qs.get('rps', 0):,.0f} submits/s into a blocked queue; all {fd.get('completed', 0):,} completed "
             f"({fd.get('not_completed_first_pass', 0):,} still pending when first checked); store {int(results.get('store_bytes') or 0) / 1e6:.1f} MB on disk")
last = results.get("queued_last_status")
if isinstance(last, dict):
    lines.append(f"last queued request: status {last.get('status')}, queue_position {last.get('queue_position')}")
lines.append(f"load average at start {meta.get('loadavg_start')} (other users of this machine run builds too)")
lines.append(f"time: build {meta.get('build_seconds')} s, measurements {meta.get('measure_seconds')} s")
for name in ("sync-gantry", "sync-nginx", "queue"):
    path = os.path.join(tmp, f"top-{name}.txt")
    if not os.path.exists(path):
        continue
    top = open(path).read().splitlines()
    cpu = next((l for l in top if l.startswith("%Cpu")), "")
    header = next((i for i, l in enumerate(top) if l.lstrip().startswith("PID")), None)
    procs = top[header + 1:header + 7] if header is not None else []
    lines.append(f"top during {name} c=64 (2 s sample; all processes, busiest first): {cpu.strip()}")
    lines.extend("    " + " ".join(l.split()[i] for i in (0, 8, 11)) for l in procs if len(l.split()) >= 12)
text = "\n".join(lines)
print(text)

with open(out_path, "w") as f:
    json.dump({"meta": meta, "results": results, "checks": checks, "table": text}, f, indent=2)
print(f"\nwrote {out_path}")
