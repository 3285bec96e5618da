"""``maskref report`` with ``--jobs 1`` against ``--jobs N``, side by side in one run.

Each round runs the whole report (every case, Keras on each installed backend)
once with one process and once with ``N`` (default: ``maskref``'s own default,
the cores as memory allows), in alternation, and checks that both wrote the
same findings. Target (issue 17): the wall time drops by 1.7x or more on 2 cores.

This is a benchmark, not a test: it prints figures and never fails (a
difference between the two reports is printed as such).
Run: ``python benchmarks/bench_report.py [--examples E] [--rounds R] [--jobs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from maskref.runner import default_jobs


def one_report(jobs: int, examples: int, out: Path) -> float:
    command = [sys.executable, "-m", "maskref", "report", "--examples", str(examples)]
    command += ["--jobs", str(jobs), "--no-progress", "--format", "json", "-o", str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL)  # status 1: a finding
    return time.perf_counter() - start


def findings(path: Path) -> dict[str, str]:
    return {c["id"]: json.dumps(c, sort_keys=True) for c in json.loads(path.read_text())["cases"]}


def compare(one: Path, many: Path) -> str:
    """The word same, or the ids of the findings that differ between the two reports."""
    a, b = findings(one), findings(many)
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return "same" if not differ else f"{len(differ)} differ:\n    " + "\n    ".join(differ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, --jobs {args.jobs}, load {os.getloadavg()[0]:.2f}")
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for jobs in times:
                seconds = one_report(jobs, args.examples, Path(tmp) / f"jobs{jobs}.json")
                times[jobs].append(seconds)
                print(f"  round {r + 1}: --jobs {jobs}: {seconds:.0f} s", flush=True)
            same = findings(Path(tmp) / "jobs1.json") == findings(
                Path(tmp) / f"jobs{args.jobs}.json"
            )
            print(f"  round {r + 1}: same findings: {same}")
    one, many = (statistics.median(times[j]) for j in times)
    print(f"\nmaskref report, {args.examples} examples (median of {args.rounds})")
    print(f"  --jobs 1        {one:7.0f} s")
    print(f"  --jobs {args.jobs:<8} {many:7.0f} s  ({one / many:.2f}x faster; target >= 1.7x)")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
