"""Summarize a py-spy ``--format raw`` profile (collapsed stacks): where the CPU went, by
package (the innermost frame's) and by function (inclusive: every stack a function is on).

    python -m benchmarks.profile benchmarks/results/profile-local-worker.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

#: Path fragment -> package, first match wins (site-packages paths, or graphyard's own).
PACKAGES = [
    ("/graphyard/", "graphyard"),
    ("/benchmarks/", "graph code (benchmarks)"),
    ("/examples/", "graph code (examples)"),
    ("/temporalio/", "temporalio (Python side)"),
    ("/langgraph/checkpoint/postgres/", "langgraph checkpoint-postgres"),
    ("/langgraph/checkpoint/", "langgraph checkpoint (serde, base)"),
    ("/langgraph/", "langgraph"),
    ("/langchain_core/", "langchain_core (callbacks, config)"),
    ("/psycopg_pool/", "psycopg_pool"),
    ("/psycopg/", "psycopg"),
    ("/pydantic", "pydantic"),
    ("/google/protobuf/", "protobuf"),
    ("/asyncio/", "asyncio"),
    ("/uuid", "uuid"),
    ("/json/", "json"),
    ("/typing", "typing"),
    ("/dataclasses", "dataclasses"),
    ("/logging/", "logging"),
]


#: Innermost frames that are waits, not work (py-spy --nonblocking cannot always tell idle
#: threads apart): a thread pool's worker blocked on its queue, the event loop's select.
IDLE = [
    ("_worker", "concurrent/futures/thread.py"),
    ("EpollSelector.select", "selectors.py"),
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
]


def idle(func: str, file: str) -> bool:
    return any(func == f and file.endswith(tail) for f, tail in IDLE)


#: Stages of graphyard's worker: a sample goes to the first stage whose function is on its
#: stack (innermost first wins for nested ones listed earlier).
STAGES = [
    ("StepPublisher._write_loop", "stream events to Postgres (StepPublisher)"),
    ("GuardedSaver.latest", "step guard: read latest checkpoint"),
    ("GuardedSaver.aput", "checkpoint write (aput)"),
    ("GuardedSaver.aput_writes", "task writes (aput_writes)"),
    ("end_run", "run end / pause write"),
    ("WorkerContext.run_kwargs", "run kwargs read / mark running"),
    ("WorkerContext.graph", "bind graph (copy with saver)"),
    ("aget_state", "aget_state"),
    ("Pregel.astream", "LangGraph super-step (rest)"),
    ("_WorkflowWorker._handle_activation", "Temporal workflow activations"),
    ("_WorkflowInstanceImpl.activate", "Temporal workflow code"),
    ("_ActivityWorker._handle_start_activity_task", "Temporal activity dispatch (rest)"),
    ("Worker.poll_activity_task", "Temporal polling"),
    ("_WorkflowWorker.run", "Temporal polling"),
    ("_WorkItem.run", "thread pool (sync nodes, serde)"),
]


def stage(frames: list[tuple[str, str]]) -> str:
    names = {func for func, _ in frames} | {func.rsplit(".", 1)[-1] for func, _ in frames}
    for func, label in STAGES:
        if func in names:
            return label
    return "other (event loop, pool, callbacks)"


def package(path: str) -> str:
    for fragment, name in PACKAGES:
        if fragment in path:
            return name
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    return "python stdlib/other"


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """Each stack as [(function, file)] outermost first, with its sample count."""
    stacks = []
    for line in path.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        frames = []
        for raw in body.split(";"):
            m = FRAME.match(raw)
            frames.append((m["func"], m["file"]) if m else (raw, ""))
        stacks.append((frames, int(count)))
    return stacks


def summarize(path: Path, top: int = 25) -> str:
    every = parse(path)
    stacks = [(frames, n) for frames, n in every if frames and not idle(*frames[-1])]
    total = sum(n for _, n in stacks)
    if not total:
        return f"{path}: no samples"
    waits = sum(n for _, n in every) - total
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    inclusive_pkg: Counter[str] = Counter()
    for frames, n in stacks:
        by_package[package(frames[-1][1])] += n
        seen = set()
        for func, file in frames:
            short = file.split("site-packages/", 1)[-1].split("/work/", 1)[-1]
            key = f"{func} ({short})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += n
        for pkg in {package(file) for _, file in frames}:
            inclusive_pkg[pkg] += n
    lines = [f"{path.name}: {total} samples of work ({waits} samples of idle waits left out)"]
    lines.append("self time by package (innermost frame):")
    for name, n in by_package.most_common(top):
        lines.append(f"  {n / total:6.1%}  {name}")
    lines.append("inclusive time by package (on the stack):")
    for name, n in inclusive_pkg.most_common(top):
        lines.append(f"  {n / total:6.1%}  {name}")
    by_stage: Counter[str] = Counter()
    for frames, n in stacks:
        by_stage[stage(frames)] += n
    if any(k.startswith(("stream events", "step guard")) for k in by_stage):
        lines.append("graphyard worker by stage:")
        for name, n in by_stage.most_common():
            lines.append(f"  {n / total:6.1%}  {name}")
    lines.append("inclusive time by function:")
    for name, n in inclusive.most_common(top * 3):
        if n / total < 0.02:
            break
        lines.append(f"  {n / total:6.1%}  {name}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.profiles:
        print(summarize(path, args.top))
        print()


if __name__ == "__main__":
    main()
