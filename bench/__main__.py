"""Runs the benchmarks: `python -m bench [--quick] [--only=a,b]`.

Prints one table per benchmark (ratios > 1 favour the zoo, or the harness
feature being measured, over the anchor timed in the same run; each timed
ratio with its bootstrap 90% interval and a verdict against its target) and
writes every figure, with the library versions and settings, to
bench/results.json.
"""

import importlib
import json
import os
import time

from absl import app, flags

from bench.tables import format_table
from zoo.utils import versions, write_json

# benchmark name: module in bench/ with run(quick) -> list of row dicts
BENCHMARKS = {
    "throughput": "bench.throughput",
    "pipeline": "bench.pipeline",
    "latency": "bench.latency",
    "accuracy": "bench.accuracy",
    "precision": "bench.precision",
    "build": "bench.build",
}

FLAGS = flags.DEFINE_bool("quick", False, "Tiny settings: a run of a few minutes on 2 cores.")
ONLY = flags.DEFINE_list("only", [], f"Benchmarks to run (default all): {', '.join(BENCHMARKS)}.")
HERE = os.path.dirname(__file__)
OUTPUT = flags.DEFINE_string("output", None, "Where to write the results JSON (default: "
                             "bench/results.json, the README tables' source, for a full run; "
                             "bench/results-quick.json, not committed, with --quick).")


NOTE = flags.DEFINE_string("note", "", "How the machine was during the run (e.g. 'shared, under "
                           "load'): recorded with each benchmark and shown under its README table.")


def output_path():
    """--output, or the default for the run's kind: quick figures never overwrite
    the committed full ones."""
    if OUTPUT.value:
        return OUTPUT.value
    return os.path.join(HERE, "results-quick.json" if FLAGS.value else "results.json")


def _validate_only(names):
    unknown = sorted(set(names) - set(BENCHMARKS))
    return not unknown


flags.register_validator("only", _validate_only,
                         message=f"--only takes names from: {', '.join(BENCHMARKS)}.")


def main(argv):
    del argv
    names = ONLY.value or list(BENCHMARKS)
    results = {"quick": FLAGS.value, "versions": versions(),
               "date": time.strftime("%Y-%m-%d"), "benchmarks": {}, "measured": {}}
    output = output_path()
    if ONLY.value and os.path.exists(output):
        # --only refreshes those benchmarks and keeps the others' figures.
        with open(output) as f:
            previous = json.load(f)
        if previous.get("quick") == FLAGS.value:
            results["benchmarks"] = previous["benchmarks"]
            results["measured"] = {**{n: {"date": previous["date"], "note": ""}
                                      for n in previous["benchmarks"]},
                                   **previous.get("measured", {})}
    for name in names:
        start = time.perf_counter()
        rows = importlib.import_module(BENCHMARKS[name]).run(FLAGS.value)
        results["benchmarks"][name] = rows
        results["measured"][name] = {"date": results["date"], "note": NOTE.value}
        print(f"\n== {name} ({time.perf_counter() - start:.0f} s)\n{format_table(rows)}", flush=True)
        write_json(output, results)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
