"""The printed table (Markdown, so it can be pasted into bench/README.md) and the target checks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

TARGETS = {
    "a": "e2e p99 <= 10 ms and ack p99 <= 15 ms (CoUp on PostgreSQL)",
    "b": ">= 60,000 deliveries/s and >= 80% of the ceiling",
    "c": "<= 20 KB RSS per idle connection, all 10,000 connected within 15 s",
    "d": ">= 2,000 acknowledged msg/s with ack p99 <= 50 ms (PostgreSQL)",
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "0"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _lost(result: dict[str, Any]) -> str:
    return f"{result.get('unacknowledged', '-')}"


def render(document: dict[str, Any]) -> str:
    scenarios = document["scenarios"]
    env = document["environment"]
    out = [f"\nCoUp realtime benchmark, {document['finished_at']}"
           f"{' (QUICK: smoke test, not a measurement)' if document['quick'] else ''}; "
           f"{env['cpus']} CPUs, Python {env['python']}, Tornado {env['tornado']}, "
           f"PostgreSQL {env.get('postgresql')}; server on core 0, load generator on core 1; "
           f"total {document['total_seconds']} s"]
    if "a" in scenarios:
        rows = []
        for label, r in scenarios["a"].items():
            if "error" in r:
                rows.append([label, r["error"], *["-"] * 13])
                continue
            w = r["window"]
            rows.append([label, r["connections"], _fmt(w["offered_msgs_per_s"]),
                         _fmt(w["deliveries_per_s"], 0), _fmt(w["e2e_p50_ms"], 2),
                         _fmt(w["e2e_p99_ms"], 2), _fmt(w["ack_p50_ms"], 2),
                         _fmt(w["ack_p99_ms"], 2), _fmt(w["errors"]), _lost(r),
                         _fmt(w["close_codes"]), _pct(w["server_cpu"]), _pct(w["loadgen_cpu"]),
                         _pct(w["postgres_cpu"]), _pct(w["other_cpu"])])
        out += ["\n(a) 1,000 connections, 50 studies x 20, 1 msg/s per study",
                _table(["server", "conns", "msgs/s", "deliveries/s", "e2e p50 ms",
                        "e2e p99 ms", "ack p50 ms", "ack p99 ms", "errors", "unacked",
                        "closed", "server CPU", "loadgen CPU", "PG CPU", "other CPU"], rows)]
    if "b" in scenarios:
        out += _render_b(scenarios["b"], document["plan"]["b"])
    if "c" in scenarios:
        rows = []
        for label, r in scenarios["c"].items():
            if "error" in r:
                rows.append([label, r["error"], *["-"] * 10])
                continue
            rows.append([label, _fmt(r["connections"]), _fmt(r["connected"]),
                         _fmt(r["connect_seconds"], 2), _fmt(r["rss_before_kb"] / 1024),
                         _fmt(r["rss_after_kb"] / 1024), _fmt(r["rss_per_connection_kb"]),
                         _fmt(r["failures"]), _pct(r["server_cpu_while_connecting"]),
                         _pct(r["loadgen_cpu"]), _pct(r["postgres_cpu"]), _pct(r["other_cpu"])])
        out += ["\n(c) idle authenticated connections",
                _table(["server", "connections", "connected", "connect s", "RSS before MiB",
                        "RSS after MiB", "KiB/conn", "failures", "server CPU", "loadgen CPU",
                        "PG CPU", "other CPU"], rows)]
    if "d" in scenarios:
        out += _render_d(scenarios["d"])
    if "e" in scenarios:
        out += _render_e(scenarios["e"], scenarios.get("a", {}).get("coup-postgresql"))
    problems = [f"- ({scenario}) {label}: {r['server']['error_lines']} ERROR lines, "
                f"{r['server']['tracebacks']} tracebacks, exit code {r['server']['exit_code']} "
                f"({r['server']['log']})"
                for scenario, by_label in scenarios.items() for label, r in by_label.items()
                if "server" in r and (r["server"]["error_lines"] or r["server"]["tracebacks"]
                                      or r["server"]["exit_code"] not in (0, -15))]
    if problems:
        out += ["\nServer logs with errors", *problems]
    busy = [f"({scenario}) {label}" for scenario, by_label in scenarios.items()
            for label, r in by_label.items() if _max_other(r) > 0.25]
    if busy:
        out.append("\nWARNING: other processes used more than a quarter of a core during: "
                   + ", ".join(busy) + " (see other_cpu in the JSON); those numbers are noisy.")
    out.append("\nTargets")
    for key, check in document.get("targets", {}).items():
        out.append(f"- ({key}) {TARGETS[key]}: {check['verdict']} ({check['measured']})")
    return "\n".join(out)


def _max_other(result: dict[str, Any]) -> float:
    windows = [result["window"]] if "window" in result else result.get("steps", [result])
    return max((w.get("other_cpu", 0.0) for w in windows), default=0.0)


def _render_b(results: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    rows = []
    for label, r in results.items():
        if "error" in r:
            rows.append([label, r["error"], *["-"] * 7])
            continue
        best = r.get("best") or {}
        rows.append([label, _fmt(best.get("rate"), 0), _fmt(best.get("deliveries_per_s"), 0),
                     _fmt(best.get("e2e_p50_ms"), 2), _fmt(best.get("e2e_p99_ms"), 2),
                     _pct(best.get("server_cpu")),
                     _pct(max((s["loadgen_cpu"] for s in r["steps"]), default=None)),
                     _pct(_max_other(r)), r["stop_reason"]])
    lines = [f"\n(b) one study of {plan['members']} members, {plan['senders']} senders; the rate "
             f"steps up by {plan['factor']}x until e2e p99 > {plan['p99_limit_ms']} ms",
             _table(["server", "best msgs/s", "deliveries/s", "e2e p50 ms", "e2e p99 ms",
                     "server CPU", "max loadgen CPU", "max other CPU", "stopped because"],
                    rows)]
    labels = [label for label, r in results.items() if "steps" in r]
    rates = sorted({s["rate"] for label in labels for s in results[label]["steps"]})
    detail = []
    for rate in rates:
        row: list[Any] = [_fmt(rate, 0)]
        for label in labels:
            tries = [s for s in results[label]["steps"] if s["rate"] == rate]
            if not tries:
                row += ["-", "-", "-", "-"]
                continue
            step = tries[-1]  # a failed step is measured once more; the table shows the last
            p99 = _fmt(step["e2e_p99_ms"], 2)
            if len(tries) > 1:
                p99 += f" (1st try {_fmt(tries[0]['e2e_p99_ms'], 1)})"
            row += [_fmt(step["deliveries_per_s"], 0), p99, _pct(step["server_cpu"]),
                    _fmt(step.get("server_us_per_delivery"), 1)]
        detail.append(row)
    headers = ["msgs/s offered"]
    for label in labels:
        headers += [f"{label} deliveries/s", f"{label} e2e p99 ms", f"{label} CPU",
                    f"{label} CPU µs/delivery"]
    lines += ["\n(b) steps", _table(headers, detail)]
    return lines


def _render_d(results: dict[str, Any]) -> list[str]:
    lines = []
    for label, r in results.items():
        if "error" in r:
            lines.append(f"\n(d) {label}: {r['error']}")
            continue
        rows = [[_fmt(s["rate"], 0) + (" (again)" if s.get("attempt") == 2 else ""),
                 _fmt(s["acked_msgs_per_s"], 0), _fmt(s["ack_p50_ms"], 2),
                 _fmt(s["ack_p99_ms"], 2), _fmt(s["ack_max_ms"], 1), _fmt(s["e2e_p99_ms"], 2),
                 _fmt(s["errors"]), _pct(s["server_cpu"]), _pct(s["loadgen_cpu"]),
                 _pct(s["postgres_cpu"]), _pct(s["other_cpu"])]
                for s in r["steps"]]
        lines += [f"\n(d) ingress, 100 studies x 5 members, all sending; {label}",
                  _table(["offered msg/s", "acked msg/s", "ack p50 ms", "ack p99 ms",
                          "ack max ms", "e2e p99 ms", "errors", "server CPU", "loadgen CPU",
                          "PG CPU", "other CPU"], rows),
                  f"stopped because: {r['stop_reason']}; unacknowledged at the end: "
                  f"{r['unacknowledged']}"]
    return lines


E_HEADERS = ["run", "conns", "msgs/s", "deliveries/s", "e2e samples", "e2e p50 ms",
             "e2e p99 ms", "ack p50 ms", "ack p99 ms", "errors", "unacked", "closed",
             "server CPU", "HAProxy CPU", "Redis CPU", "PG CPU", "loadgen CPU", "other CPU"]


def _e_row(label: str, r: dict[str, Any], server_cpu: str, haproxy: str, redis: str
           ) -> list[Any]:
    """A full row of the (e) table: one run of (a)'s load, all its deliveries."""
    w = r["window"]
    return [label, r["connections"], _fmt(w["offered_msgs_per_s"]),
            _fmt(w["deliveries_per_s"], 0), _fmt(w["e2e_samples"]), _fmt(w["e2e_p50_ms"], 2),
            _fmt(w["e2e_p99_ms"], 2), _fmt(w["ack_p50_ms"], 2), _fmt(w["ack_p99_ms"], 2),
            _fmt(w["errors"]), _lost(r), _fmt(w["close_codes"]), server_cpu, haproxy, redis,
            _pct(w["postgres_cpu"]), _pct(w["loadgen_cpu"]), _pct(w["other_cpu"])]


def _e_split_row(label: str, split: dict[str, Any]) -> list[Any]:
    """A latency-only row: the deliveries of (e) whose receiver is on (or off) the sender's
    node; the other columns belong to the whole run."""
    return [label, "", "", "", _fmt(split["samples"]), _fmt(split["p50_ms"], 2),
            _fmt(split["p99_ms"], 2), *[""] * (len(E_HEADERS) - 7)]


def _render_e(results: dict[str, Any], single: dict[str, Any] | None) -> list[str]:
    lines = []
    for label, r in results.items():
        if "error" in r:
            lines.append(f"\n(e) two nodes through HAProxy, {label}: {r['error']}")
            continue
        w = r["window"]
        nodes = w.get("process_cpu", {})
        node_cpu = " + ".join(f"{name} {_pct(cpu)}" for name, cpu in nodes.items()
                              if name != "haproxy")
        rows = []
        if single is not None and "window" in single:
            rows.append(_e_row("one node: (a) coup-postgresql", single,
                               _pct(single["window"]["server_cpu"]), "-", "-"))
        rows.append(_e_row("two nodes: all deliveries", r,
                           f"{_pct(w['server_cpu'])} ({node_cpu})",
                           _pct(nodes.get("haproxy")), _pct(w.get("redis_cpu"))))
        rows.append(_e_split_row("two nodes: same-node deliveries", w["same_node"]))
        rows.append(_e_split_row("two nodes: cross-node deliveries", w["cross_node"]))
        proxy = {name: counts["total"] for name, counts in r.get("haproxy_sessions", {}).items()}
        lines += [f"\n(e) two nodes through HAProxy ({label}; both nodes and HAProxy on core 0), "
                  "1,000 connections, 50 studies x 20, 1 msg/s per study",
                  f"clients per node (hello): {_fmt(r['clients_per_node'])}; sample receivers "
                  f"per node: {_fmt(r['samples_per_node'])}; sessions per node counted by "
                  f"HAProxy: {_fmt(proxy)}; rooms with members on both nodes: "
                  f"{r['rooms_on_both_nodes']}; unclassified samples: "
                  f"{w['unclassified_samples']}",
                  _table(E_HEADERS, rows)]
    return lines


def targets(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    a = results.get("a", {}).get("coup-postgresql", {}).get("window")
    if a:
        ok = a["e2e_p99_ms"] is not None and a["e2e_p99_ms"] <= 10 and \
            a["ack_p99_ms"] is not None and a["ack_p99_ms"] <= 15
        checks["a"] = {"verdict": "PASS" if ok else "MISSED", "measured":
                       f"e2e p99 {a['e2e_p99_ms']} ms, ack p99 {a['ack_p99_ms']} ms"}
    b = results.get("b", {})
    coup_best = (b.get("coup-postgresql", {}).get("best") or {}).get("deliveries_per_s")
    ceiling_best = (b.get("ceiling", {}).get("best") or {}).get("deliveries_per_s")
    if coup_best is not None or "coup-postgresql" in b:
        ratio = coup_best / ceiling_best if coup_best and ceiling_best else None
        ok = bool(coup_best and coup_best >= 60_000 and ratio is not None and ratio >= 0.8)
        checks["b"] = {"verdict": "PASS" if ok else "MISSED", "ratio": ratio,
                       "measured": f"{_fmt(coup_best, 0)} deliveries/s, ceiling "
                                   f"{_fmt(ceiling_best, 0)}, ratio {_pct(ratio)}"}
    c = results.get("c", {}).get("coup-postgresql")
    if c and "error" not in c:
        ok = c["rss_per_connection_kb"] <= 20 and c["connected"] == c["connections"] \
            and c["connect_seconds"] <= 15 and c["connections"] >= 10_000
        checks["c"] = {"verdict": "PASS" if ok else "MISSED", "measured":
                       f"{c['rss_per_connection_kb']} KiB/connection, {c['connected']} of "
                       f"{c['connections']} in {c['connect_seconds']} s"}
    d = results.get("d", {}).get("coup-postgresql")
    if d and "error" not in d:
        first = d["steps"][0] if d["steps"] else {}
        best = d.get("best") or {}
        ok = bool(best) and best["acked_msgs_per_s"] >= 2000
        checks["d"] = {"verdict": "PASS" if ok else "MISSED", "measured":
                       f"at {first.get('rate')} msg/s: ack p99 {first.get('ack_p99_ms')} ms; "
                       f"highest with ack p99 <= 50 ms: {_fmt(best.get('acked_msgs_per_s'), 0)}"
                       f" acked msg/s (ack p99 {best.get('ack_p99_ms')} ms)"}
    return checks


def profile_summary(raw: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function from a py-spy `--format raw` file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "  (empty profile)"
    lines = [f"  profile {raw}: {total} samples; top self time:"]
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  top inclusive:")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":  # re-print the table of a saved run: python -m bench.report FILE
    import json
    import sys

    print(render(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else
                                 "bench/results/latest.json").read_text())))
