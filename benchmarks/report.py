"""The table (graphyard / reference / floor / plugin and the ratios), the issues' targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.scenarios import IO_IDEAL_S

#: (key, label). Latencies in ms unless the label says otherwise.
ROWS: list[tuple[str, str]] = [
    ("echo_p50", "create+wait echo p50 ms"),
    ("echo_p95", "create+wait echo p95 ms"),
    ("chain_p50", "create+wait chain (10 nodes) p50 ms"),
    ("chain_p95", "create+wait chain (10 nodes) p95 ms"),
    ("fanout_p50", "create+wait fan-out (8 + join) p50 ms"),
    ("fanout_p95", "create+wait fan-out (8 + join) p95 ms"),
    ("step_overhead", "per super-step, (chain-echo)/9 ms"),
    ("first_event_p50", "chain stream: first event p50 ms"),
    ("full_stream_p50", "chain stream: full stream p50 ms"),
    ("token_p50", "token, node to client p50 ms"),
    ("hitl_interrupt_p50", "HITL create+wait to interrupt p50 ms"),
    ("hitl_resume_p50", "HITL resume to end p50 ms"),
    ("throughput_c20", "throughput chain c=20 runs/s"),
    ("throughput_c50", "throughput chain c=50 runs/s"),
    ("cpu_c20_ms", "CPU ms per chain run, all processes, c=20"),
    ("cpu_c50_ms", "CPU ms per chain run, all processes, c=50"),
    ("idle_cpu_ms_s", "idle stack CPU ms/s"),
    ("echo_cost_events", "history events per echo run"),
    ("chain_cost_events", "history events per chain run"),
    ("hitl_cost_events", "history events per HITL run"),
    ("echo_cost_actions", "billable actions per echo run"),
    ("chain_cost_actions", "billable actions per chain run"),
    ("hitl_cost_actions", "billable actions per HITL run (in histories)"),
    ("hitl_queries", "HITL: queries polled to see the interrupt"),
    ("recovery_s", "kill -9 of the workers mid-run: run done after, s"),
    ("io_wall_s", "200 x 3 x 0.2 s sleeps at once, s"),
    ("waiting_park_s", "park N runs at interrupt, s"),
    ("waiting_stuck", "N waiting: runs never parked (bug)"),
    ("waiting_rss_mb", "N waiting: worker RSS MB"),
    ("waiting_rss_growth_mb", "N waiting: worker RSS growth MB"),
    ("waiting_cpu_pct", "N waiting: worker idle CPU %"),
    ("waiting_cpu_all_pct", "N waiting: all processes CPU %"),
]


@dataclass(frozen=True)
class Target:
    """One of the issues' targets: ``key`` of graphyard against ``against`` (a column, "ideal",
    or "value": the figure itself), ``ratio`` the bound, ``at_most`` its direction."""

    label: str
    key: str
    against: str
    ratio: float
    at_most: bool


TARGETS = [
    # Issue 24: per-run cost, beside the plugin and the floor.
    Target("throughput c=20 >= 2x plugin", "throughput_c20", "plugin", 2.0, False),
    Target("throughput c=50 >= 2x plugin", "throughput_c50", "plugin", 2.0, False),
    Target("throughput c=20 >= 0.7x floor", "throughput_c20", "floor", 0.7, False),
    Target("throughput c=50 >= 0.7x floor", "throughput_c50", "floor", 0.7, False),
    Target("CPU per chain run (c=20), all processes <= 90 ms", "cpu_c20_ms", "value", 90, True),
    Target("CPU per chain run (c=50), all processes <= 90 ms", "cpu_c50_ms", "value", 90, True),
    Target("create+wait echo p50 <= 0.03x reference", "echo_p50", "reference", 0.03, True),
    Target("create+wait chain p50 <= 0.1x reference", "chain_p50", "reference", 0.1, True),
    Target("per super-step <= 1.3x floor", "step_overhead", "floor", 1.3, True),
    Target("park N at an interrupt <= 0.5x reference", "waiting_park_s", "reference", 0.5, True),
    Target("N waiting: worker RSS <= reference", "waiting_rss_mb", "reference", 1.0, True),
    Target("idle stack CPU <= plugin", "idle_cpu_ms_s", "plugin", 1.0, True),
    # Earlier issues.
    Target("create+wait fan-out p50 <= 0.1x reference", "fanout_p50", "reference", 0.1, True),
    Target("first event p50 <= 0.05x reference", "first_event_p50", "reference", 0.05, True),
    Target("HITL to interrupt p50 <= 0.1x reference", "hitl_interrupt_p50", "reference", 0.1, True),
    Target("HITL resume p50 <= 0.1x reference", "hitl_resume_p50", "reference", 0.1, True),
    Target("I/O-bound runs at once <= 3x ideal 0.6 s", "io_wall_s", "ideal", 3.0, True),
]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def evaluate(columns: dict[str, dict[str, float]], main: str) -> list[dict[str, Any]]:
    """Each target: graphyard's (``main`` column) ratio, and whether it is met."""
    out = []
    for t in TARGETS:
        mine = columns.get(main, {}).get(t.key)
        if t.against == "value":
            base: float | None = 1.0
        elif t.against == "ideal":
            base = IO_IDEAL_S
        else:
            base = columns.get(t.against, {}).get(t.key)
        ratio = _ratio(mine, base)
        met = None if ratio is None else (ratio <= t.ratio if t.at_most else ratio >= t.ratio)
        out.append({"target": t.label, "key": t.key, "ratio": ratio, "bound": t.ratio, "met": met})
    return out


def table(columns: dict[str, dict[str, float]], main: str, waiting: int, io_runs: int) -> str:
    """A Markdown table: one column per contender, then graphyard/reference, graphyard/floor
    and graphyard/plugin for the ``main`` graphyard column."""
    names = list(columns)
    others = ("reference", "floor", "plugin")
    header = ["scenario", *names, *(f"{main} / {o}" for o in others)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for key, label in ROWS:
        values = [columns[name].get(key) for name in names]
        if all(v is None for v in values):
            continue
        text = label.replace("N ", f"{waiting} ").replace("200 x", f"{io_runs} x")
        g = columns.get(main, {}).get(key)
        ratios = [_ratio(g, columns.get(other, {}).get(key)) for other in others]
        cells = [text, *(_fmt(v) for v in values), *(_fmt(r) for r in ratios)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_table(evaluated: list[dict[str, Any]]) -> str:
    lines = ["| target | ratio (or figure) | met |", "|---|---:|---|"]
    for t in evaluated:
        met = "not measured" if t["met"] is None else ("met" if t["met"] else "NOT met")
        lines.append(f"| {t['target']} | {_fmt(t['ratio'])} | {met} |")
    return "\n".join(lines)


def cpu_table(cpu: dict[str, dict[str, dict[str, float]]], concurrency: tuple[int, ...]) -> str:
    """CPU ms per chain run, by process, in each throughput scenario."""
    lines = ["| CPU ms per chain run | " + " | ".join(f"c={c}" for c in concurrency) + " |"]
    lines.append("|---|" + "---:|" * len(concurrency))
    for name, by_c in cpu.items():
        parts = dict.fromkeys(p for c in concurrency for p in by_c.get(f"c{c}", {}))
        for part in parts:
            cells = [_fmt(by_c.get(f"c{c}", {}).get(part)) for c in concurrency]
            lines.append(f"| {name}: {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
