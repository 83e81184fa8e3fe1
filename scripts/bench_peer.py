#!/usr/bin/env python3
"""Whole-process throughput: `cordon check --jsonl` against scandar-guard, same events, one run.

Usage (from the repository root):

    pip install scandar-guard==0.1.1        # the peer, once
    python3 scripts/bench_peer.py --cordon target/release/cordon ../shared/corpus/dev/*.jsonl
    python3 scripts/bench_peer.py --cordon target/release/cordon --runs 9 --json ../shared/corpus/dev/*.jsonl

What it does
  * Reads the JSONL corpora given as arguments (at run time; nothing is copied into the repo),
    strips the label fields (expect, label, category, source, ...) exactly as ../shared/bin/scorecard
    does, keeping only the check-contract fields, and writes the events to one temp file.
  * cordon: `cordon check --jsonl` with stdin from that file and stdout captured; the wall clock of
    the whole process (spawn to exit), like the scorecard's events/s. One verdict line per event
    and matching ids are checked.
  * scandar-guard: a fresh Python process (`python -c WORKER`) that imports scandar-guard, reads the
    same file on stdin, calls its lowest-level inspector on each event and writes one JSON line per
    event to stdout; timed the same way. The API, read from its installed source (0.1.1,
    scandar_guard/tool_inspector.py):
        ToolCallInspector().inspect_tool_call(tool_name: str, arguments: dict, session_id: str)
            -> InspectionResult(findings: list[RuntimeFinding], session_id, event_type, duration_ms)
        ToolCallInspector().inspect_tool_result(tool_name: str, result: Any, session_id: str)
    Call events -> inspect_tool_call(event["tool"], event["input"], event["session"]); a non-dict
    input is handled as guard() does (a JSON string is parsed, anything else becomes {}).
    Result events (type == "result") -> inspect_tool_result(event["tool"], event["output"], session),
    which is how guard() sees a tool's output when it comes back in the next request's messages
    (as a tool_result block / tool-role message). Pass --results skip to not inspect them (the worker
    then still writes an "allow" line for them, so both sides emit one line per event).
    Decision written per event: "block" if any critical finding (guard's default block_on), "warn" if
    any finding, else "allow". guard() itself (anomaly tracker, multi-turn, scorer, audit log) is NOT
    in the loop: this is the peer's fastest path, so the ratio is conservative for cordon.
  * The worker gets the caller's environment minus PYTHONUNBUFFERED (stdout block-buffered, as a
    default Python would have it); it reads and writes the same way cordon does (stdin file, stdout pipe).
  * Each side runs --warmup times unmeasured, then --runs times (alternating cordon / peer so drift
    hits both alike); the median wall is reported. Startup alone (empty input) is measured too.
  * For information, the worker times each inspector call in process (time.perf_counter_ns around
    the call; ~0.1 us overhead per event) and the script reports median and p99 per call.

The peer's worker process has outbound sockets disabled (connect/sendto/getaddrinfo raise) before
scandar-guard is imported; the bare inspector sends nothing anyway (its telemetry lives in guard()
and is off by default).

Exit status: 0 ok; 1 a side produced wrong output (line count / ids / crash); 2 scandar-guard
cannot be imported (install it with `pip install scandar-guard==0.1.1`) or bad arguments.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter

CONTRACT_FIELDS = ("id", "type", "session", "agent", "task", "tool", "input", "output", "ts")
PEER_PACKAGE = "scandar-guard"
PEER_VERSION = "0.1.1"
INSTALL_HINT = f"pip install {PEER_PACKAGE}=={PEER_VERSION}"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in its own interpreter; keep its imports minimal so the process measures the peer, not us.
WORKER = r'''
import sys, json, socket, time

def _no_net(*a, **k):
    raise OSError("bench_peer: network disabled in the scandar-guard worker")
socket.socket.connect = _no_net
socket.socket.connect_ex = _no_net
socket.socket.sendto = _no_net
socket.create_connection = _no_net
socket.getaddrinfo = _no_net

try:
    from scandar_guard.tool_inspector import ToolCallInspector
except ImportError as e:
    sys.stderr.write("IMPORT_ERROR %s\n" % e)
    sys.exit(3)

skip_results = sys.argv[1] == "skip"
insp = ToolCallInspector()
call = insp.inspect_tool_call
res = insp.inspect_tool_result
pc = time.perf_counter_ns
write = sys.stdout.write
dumps = json.dumps
call_ns = []
res_ns = []
for line in sys.stdin.buffer:
    if not line.strip():
        continue
    ev = json.loads(line)
    tool = ev.get("tool") or "unknown"
    sid = ev.get("session") or "bench"
    r = None
    if ev.get("type") == "result":
        if not skip_results:
            out = ev.get("output")
            t0 = pc()
            r = res(tool, out, sid)
            res_ns.append(pc() - t0)
    else:
        inp = ev.get("input")
        if not isinstance(inp, dict):
            try:
                inp = json.loads(inp) if isinstance(inp, str) else {}
            except Exception:
                inp = {}
            if not isinstance(inp, dict):
                inp = {}
        t0 = pc()
        r = call(tool, inp, sid)
        call_ns.append(pc() - t0)
    findings = []
    decision = "allow"
    if r is not None and r.findings:
        decision = "warn"
        for f in r.findings:
            if f.severity == "critical":
                decision = "block"
            findings.append({"kind": f.category, "severity": f.severity,
                             "confidence": f.confidence,
                             "evidence": f.context.get("matched_excerpt", "")})
    write(dumps({"id": ev.get("id"), "decision": decision, "findings": findings}) + "\n")
sys.stdout.flush()
sys.stderr.write("BENCH_STATS " + dumps({"call_ns": call_ns, "result_ns": res_ns}) + "\n")
'''

PREFLIGHT = r'''
import json, inspect, sys
try:
    from importlib.metadata import version
    from scandar_guard.tool_inspector import ToolCallInspector
except ImportError as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
print(json.dumps({
    "version": version("scandar-guard"),
    "inspect_tool_call": "ToolCallInspector.inspect_tool_call" + str(inspect.signature(ToolCallInspector.inspect_tool_call)),
    "inspect_tool_result": "ToolCallInspector.inspect_tool_result" + str(inspect.signature(ToolCallInspector.inspect_tool_result)),
    "python": sys.version.split()[0],
}))
'''


def load(paths):
    """Events with labels stripped, as the scorecard sends them to cordon."""
    events = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                rec.setdefault("id", f"{os.path.basename(path)}:{n}")
                events.append({k: rec[k] for k in CONTRACT_FIELDS if k in rec})
    return events


def timed(cmd, stdin_path, env=None):
    t0 = time.perf_counter()
    with open(stdin_path, "rb") as stdin:
        proc = subprocess.run(cmd, stdin=stdin, capture_output=True, env=env)
    return proc, time.perf_counter() - t0


def check_output(name, proc, events, ok_codes):
    """Problems with one side's output: exit status, one line per event, ids in order."""
    problems = []
    if proc.returncode not in ok_codes:
        problems.append(f"{name} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[-500:]}")
    lines = [l for l in proc.stdout.decode("utf-8", "replace").splitlines() if l.strip()]
    if len(lines) != len(events):
        problems.append(f"{name}: {len(events)} events in, {len(lines)} lines out")
    decisions = Counter()
    for ev, line in zip(events, lines):
        try:
            out = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"{name}: not JSON: {line[:120]}")
            break
        if out.get("id") != ev["id"]:
            problems.append(f"{name}: id mismatch: sent {ev['id']!r}, got {out.get('id')!r}")
            break
        decisions[out.get("decision")] += 1
    return problems, dict(decisions)


def peer_stats(proc):
    for line in reversed(proc.stderr.decode("utf-8", "replace").splitlines()):
        if line.startswith("BENCH_STATS "):
            return json.loads(line[len("BENCH_STATS "):])
    return None


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def summarize_ns(samples_per_run):
    """Median and p99 per call, pooled over the measured runs, in microseconds."""
    pooled = sorted(x for run in samples_per_run for x in run)
    if not pooled:
        return None
    return {"n_per_run": len(samples_per_run[0]), "median_us": round(pct(pooled, 0.5) / 1000, 2),
            "p99_us": round(pct(pooled, 0.99) / 1000, 2), "max_us": round(pooled[-1] / 1000, 1)}


def side_summary(walls, n_events, startup):
    med = statistics.median(walls)
    return {"events": n_events, "runs": len(walls), "wall_s_median": round(med, 4),
            "wall_s_min": round(min(walls), 4), "wall_s_max": round(max(walls), 4),
            "events_per_s": round(n_events / med, 1) if med else None,
            "startup_s_median": round(statistics.median(startup), 4) if startup else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", nargs="+", help="JSONL corpus files (labels are stripped)")
    ap.add_argument("--cordon", default=os.environ.get("CORDON", os.path.join(REPO, "target/release/cordon")))
    ap.add_argument("--policy", help="policy file passed to cordon (built-in default otherwise)")
    ap.add_argument("--python", default=sys.executable, help="interpreter that has scandar-guard installed")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per side (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured runs per side first")
    ap.add_argument("--results", choices=("inspect", "skip"), default="inspect",
                    help="scandar-guard: inspect result events with inspect_tool_result (default) or skip them")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object only")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    pre = subprocess.run([args.python, "-c", PREFLIGHT], capture_output=True, text=True)
    try:
        peer = json.loads(pre.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        peer = {"error": (pre.stderr or pre.stdout)[-500:]}
    if "error" in peer:
        print(f"error: cannot import scandar-guard with {args.python}: {peer['error']}\n"
              f"install it with: {args.python} -m {INSTALL_HINT}", file=sys.stderr)
        return 2
    if peer["version"] != PEER_VERSION:
        print(f"warning: scandar-guard {peer['version']} installed, this benchmark was written for "
              f"{PEER_VERSION} ({INSTALL_HINT})", file=sys.stderr)
    if not (os.path.isfile(args.cordon) and os.access(args.cordon, os.X_OK)):
        print(f"error: no cordon binary at {args.cordon} (cargo build --release -p cordon-cli)", file=sys.stderr)
        return 2

    events = load(args.corpus)
    kinds = Counter("result" if ev.get("type") == "result" else "call" for ev in events)
    cordon_cmd = [args.cordon, "check", "--jsonl"] + (["--policy", args.policy] if args.policy else [])
    peer_cmd = [args.python, "-c", WORKER, args.results]
    # The peer runs as a user would run it: no PYTHONUNBUFFERED (set in some dev shells; it would turn
    # every output line into a write syscall), bytecode from site-packages' __pycache__ as installed.
    peer_env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

    fd, path = tempfile.mkstemp(suffix=".jsonl", prefix="bench_peer_")
    fd_empty, empty = tempfile.mkstemp(suffix=".jsonl", prefix="bench_peer_empty_")
    os.close(fd_empty)
    problems = []
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for ev in events:
                fh.write(json.dumps(ev) + "\n")

        for _ in range(args.warmup):
            timed(cordon_cmd, path)
            timed(peer_cmd, path, peer_env)
        c_walls, p_walls, c_start, p_start, call_ns, res_ns = [], [], [], [], [], []
        c_dec = p_dec = None
        for i in range(args.runs):
            proc, wall = timed(cordon_cmd, path)
            c_walls.append(wall)
            if i == 0:
                probs, c_dec = check_output("cordon", proc, events, (0, 1, 2))
                problems += probs
            proc, wall = timed(peer_cmd, path, peer_env)
            p_walls.append(wall)
            if proc.returncode == 3 and b"IMPORT_ERROR" in proc.stderr:
                print(f"error: scandar-guard import failed in the worker; {INSTALL_HINT}", file=sys.stderr)
                return 2
            if i == 0:
                probs, p_dec = check_output("scandar-guard", proc, events, (0,))
                problems += probs
            st = peer_stats(proc)
            if st:
                call_ns.append(st["call_ns"])
                res_ns.append(st["result_ns"])
            # startup alone: the same processes on empty input
            c_start.append(timed(cordon_cmd, empty)[1])
            p_start.append(timed(peer_cmd, empty, peer_env)[1])
    finally:
        os.unlink(path)
        os.unlink(empty)

    n = len(events)
    c = side_summary(c_walls, n, c_start)
    p = side_summary(p_walls, n, p_start)
    c["decisions"], p["decisions"] = c_dec, p_dec
    p["in_process"] = {"inspect_tool_call": summarize_ns(call_ns) if call_ns else None,
                       "inspect_tool_result": summarize_ns(res_ns) if res_ns and res_ns[0] else None}
    ratio = round(c["events_per_s"] / p["events_per_s"], 1) if c["events_per_s"] and p["events_per_s"] else None
    result = {
        "corpora": args.corpus, "events": n, "calls": kinds["call"], "results": kinds["result"],
        "runs": args.runs, "warmup": args.warmup, "cpus": os.cpu_count(),
        "cordon": dict(c, binary=args.cordon, policy=args.policy),
        "scandar_guard": dict(p, version=peer["version"], python=peer["python"],
                              api=peer["inspect_tool_call"], result_api=peer["inspect_tool_result"],
                              result_events=args.results),
        "ratio_cordon_over_scandar": ratio,
        "problems": problems,
    }

    if args.json:
        print(json.dumps(result))
        return 1 if problems else 0

    print(f"{n:,} events ({kinds['call']:,} calls, {kinds['result']:,} results) from {len(args.corpus)} file(s); "
          f"median of {args.runs} runs after {args.warmup} warm-up, whole process, {os.cpu_count()} CPUs")
    print(f"{'':16s} {'events':>8s} {'wall s':>8s} {'min':>8s} {'max':>8s} {'events/s':>10s} {'startup s':>10s}")
    for name, s in (("cordon", c), (f"scandar-guard", p)):
        print(f"{name:16s} {s['events']:>8,} {s['wall_s_median']:>8.4f} {s['wall_s_min']:>8.4f} "
              f"{s['wall_s_max']:>8.4f} {s['events_per_s']:>10,.0f} {s['startup_s_median']:>10.4f}")
    print(f"decisions  cordon {c_dec}  scandar-guard {p_dec}")
    print(f"scandar-guard {peer['version']} API: {peer['inspect_tool_call']}; result events: {args.results}"
          + (f" via {peer['inspect_tool_result']}" if args.results == "inspect" else ""))
    for api, s in p["in_process"].items():
        if s:
            print(f"scandar-guard in process, {api}: median {s['median_us']} us, p99 {s['p99_us']} us, "
                  f"max {s['max_us']} us ({s['n_per_run']:,} calls/run)")
    for pr in problems[:20]:
        print("problem:", pr)
    print(("PROBLEMS " if problems else "") +
          f"cordon {c['events_per_s']:,.0f} ev/s, scandar-guard {p['events_per_s']:,.0f} ev/s: {ratio}x")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
