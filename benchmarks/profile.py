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
