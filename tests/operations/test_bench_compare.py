"""bench/compare.py reads bench/ingest.py's results and compares the two sides' medians."""

from __future__ import annotations

import json

from bench.compare import ingest_figures, summary


def _output(c8: float, c32: float, batch: float) -> str:
    """What bench/ingest.py prints: its report lines, then its results as indented JSON."""
    results = {
        "service_single_c8": {
            "rps": 3000.0,
            "cpu_ms_per_event": c8,
            "server_cpu_ms_per_event": 0.2,
        },
        "service_single_c32": {"cpu_ms_per_event": c32, "server_cpu_ms_per_event": 0.21},
        "service_batch": {"cpu_ms_per_event": batch, "server_cpu_ms_per_event": 0.03},
        "aggregates": {"modes": {"on": {"nested": {"a": 1}}}},
    }
    report = "load generator: wrk; 2 cores\nsingle POST,  8 clients: service 3000 req/s\n"
    return report + json.dumps(results, indent=2) + "\n"


def test_the_figures_are_read_from_the_results_json():
    assert ingest_figures(_output(0.4, 0.41, 0.05)) == {
        "c8": (0.4, 0.2),
        "c32": (0.41, 0.21),
        "batch": (0.05, 0.03),
    }


def test_each_side_is_its_median_and_the_change_is_head_over_base():
    base = [ingest_figures(_output(x, 0.40, 0.050)) for x in (0.40, 0.44, 0.42)]
    head = [ingest_figures(_output(x, 0.38, 0.052)) for x in (0.39, 0.37, 0.90)]
    result = summary({"base": base, "head": head})
    assert result["c8"]["base"] == [0.42, 0.2] and result["c8"]["head"] == [0.39, 0.2]
    assert round(result["c8"]["change_pct"], 2) == round(100 * (0.39 / 0.42 - 1), 2)
    assert round(result["c32"]["change_pct"], 1) == -5.0
    assert round(result["batch"]["change_pct"], 1) == 4.0
