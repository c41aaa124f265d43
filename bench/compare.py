"""Ingest figures of this tree against another commit's, interleaved: CPU per event.

    python bench/compare.py --base 49e2467 [--rounds 5] [--traffic same|spread]
                            [--duration 5] [--batches 20]

Checks out --base in a temporary git worktree and puts this tree's bench/ingest.py in it, so
that both sides take the same load; then runs `bench/ingest.py --aggregates on --no-floors`
in the base and in this tree in turn, --rounds times each, and prints for single POSTs at 8 and
32 clients and for batches the median CPU per event (server and PostgreSQL together, the
server's part in brackets) on each side and the change. CPU per event is steadier than req/s on
a shared machine; taking the sides in turn keeps the machine's drift out of the comparison.
Each run's line is printed as it ends; the last line is the summary as JSON.

Both sides run with this interpreter (the base's dependencies must be installed in it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {"c8": "service_single_c8", "c32": "service_single_c32", "batch": "service_batch"}


def ingest_figures(output: str) -> dict[str, tuple[float, float]]:
    """(CPU ms per event, the server's part) by figure, from bench/ingest.py's output, whose
    last part is its results as JSON."""
    results = json.loads(output[output.index("\n{\n") + 1 :])
    return {
        name: (results[key]["cpu_ms_per_event"], results[key]["server_cpu_ms_per_event"])
        for name, key in FIGURES.items()
    }


def run_side(tree: Path, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    command = [
        sys.executable,
        "bench/ingest.py",
        "--duration",
        str(args.duration),
        "--batches",
        str(args.batches),
        "--aggregates",
        "on",
        "--no-floors",
        "--traffic",
        args.traffic,
    ]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench/ingest.py failed in {tree}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return ingest_figures(done.stdout)


def summary(runs: dict[str, list[dict[str, tuple[float, float]]]]) -> dict[str, dict]:
    """Per figure: each side's median CPU ms per event and server part, and the change in %."""
    out: dict[str, dict] = {}
    for name in FIGURES:
        medians = {
            side: [statistics.median(run[name][i] for run in side_runs) for i in (0, 1)]
            for side, side_runs in runs.items()
        }
        out[name] = {
            "base": medians["base"],
            "head": medians["head"],
            "change_pct": 100 * (medians["head"][0] / medians["base"][0] - 1),
        }
    return out


def line(label: str, figures: dict[str, tuple[float, float]]) -> str:
    return f"{label:<5}" + "".join(
        f"  {name} {total:.3f} ({server:.3f})" for name, (total, server) in figures.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each side, in turn")
    parser.add_argument("--traffic", choices=("same", "spread"), default="same")
    parser.add_argument("--duration", type=int, default=5, help="seconds per single-event run")
    parser.add_argument("--batches", type=int, default=20, help="1,000-event batches to post")
    args = parser.parse_args()

    worktree = Path(tempfile.mkdtemp(prefix="haochaping-compare-")) / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.base],
        check=True,
        capture_output=True,
    )
    try:
        shutil.copy2(ROOT / "bench" / "ingest.py", worktree / "bench" / "ingest.py")
        runs: dict[str, list] = {"base": [], "head": []}
        print(f"CPU ms per event (server's part), {args.traffic} traffic: base {args.base}, head")
        for round_no in range(1, args.rounds + 1):
            for side, tree in (("base", worktree), ("head", ROOT)):
                runs[side].append(run_side(tree, args))
                print(line(side, runs[side][-1]), f" round {round_no}", flush=True)
        result = summary(runs)
        for name, figure in result.items():
            (base, base_server), (head, head_server) = figure["base"], figure["head"]
            print(
                f"{name:<5} {base:.3f} ({base_server:.3f}) -> {head:.3f} ({head_server:.3f})"
                f"  {figure['change_pct']:+.1f}%"
            )
        print(json.dumps({"base": args.base, "traffic": args.traffic, "figures": result}))
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
            capture_output=True,
        )
        shutil.rmtree(worktree.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
