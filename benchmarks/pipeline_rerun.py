"""Time of a fully reused `nerp pipeline` run: every stage found, none re-run.

Runs the reduced pipeline of tests/test_pipeline_e2e.py once into a fresh output root
(training, HPO, conversion: minutes), then again with the same settings, and reports how
long the second run took and whether every stage said "reused". Target: under 120 s
(the time check that used to sit in the end-to-end test).

    uv run python benchmarks/pipeline_rerun.py [--output-root DIR] [--target-s 120]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NERP = shutil.which("nerp") or str(Path(sys.executable).with_name("nerp"))
REDUCED = [
    "--set", "data.synthetic.n_documents=100",
    "--set", "hpo.search_space.learning_rate.low=0.003",
    "--set", "hpo.search_space.batch_size.values=[8]",
    "--set", "hpo.n_trials=2",
    "--set", "hpo.k_folds=2",
    "--set", "train.epochs=3",
    "--set", "benchmark.iterations=3",
    "--set", "benchmark.batch_sizes=[1]",
    "--set", "benchmark.n_texts=4",
]  # fmt: skip


def run(root: Path) -> tuple[float, list[str]]:
    started = time.perf_counter()
    result = subprocess.run(
        [NERP, "pipeline", *REDUCED, "--output-root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"nerp pipeline failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    stages = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("[") and "running" not in line
    ]
    return elapsed, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-root", type=Path, default=None)
    parser.add_argument("--target-s", type=float, default=120.0)
    args = parser.parse_args()
    root = args.output_root or Path(tempfile.mkdtemp(prefix="nerp-rerun-")) / "outputs"
    first, _ = run(root)
    print(f"first run: {first:.1f} s")
    again, stages = run(root)
    reran = [line for line in stages if " reused " not in line]
    print(f"reused run: {again:.1f} s for {len(stages)} stages (target < {args.target_s:.0f} s)")
    for line in reran:
        print(f"  re-ran: {line}")
    if reran or again >= args.target_s:
        sys.exit(1)


if __name__ == "__main__":
    main()
