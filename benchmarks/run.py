"""`make bench`: NumPy (the solutions' code) against TensorFlow on the CPU, timed in the same run,
and each solution notebook's wall time and peak memory.

Operations come from benchmarks/cases_<chapter>.py: each module has CASES, a list of
Case(name, shape, make), where make(dtype) returns (numpy_fn, tensorflow_fn), two
zero-argument callables computing the same thing. The NumPy side calls the chapter's
solution functions, loaded with dlcourse.notebooks.load_functions.

Usage: python benchmarks/run.py [--repeat N] [--no-notebooks] [--only SUBSTRING] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from dlcourse import notebooks, reference  # noqa: E402


@dataclass
class Case:
    name: str
    shape: str
    make: object  # make(dtype) -> (numpy_fn, tensorflow_fn)


def median_seconds(fn, repeat):
    fn()  # warm-up: first-call costs (tracing, allocation) are not what we measure
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_cases(only=None):
    cases = []
    for path in sorted(HERE.glob("cases_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += [c for c in module.CASES if not only or only in c.name]
    return cases


NOTEBOOK_PROBE = r"""
import json, resource, sys, time
from dlcourse.notebooks import execute_notebook
start = time.perf_counter()
execute_notebook(sys.argv[1], write=False)
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, our only child
print(json.dumps({"wall_s": wall, "peak_mb": peak_kb / 1024}))
"""


def time_notebook(path):
    proc = subprocess.run([sys.executable, "-c", NOTEBOOK_PROBE, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (median reported)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the solution notebooks")
    parser.add_argument("--only", help="run only the operations whose name contains this")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"), help="JSON output file")
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5 (the median of fewer runs is noise)")

    tf = reference.tf()
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "device": reference.describe_device(),
    }
    rows = []
    for case in load_cases(args.only):
        for dtype in ("float32", "float64"):
            numpy_fn, tf_fn = case.make(dtype)
            with tf.device("/CPU:0"):
                t_tf = median_seconds(tf_fn, args.repeat)
            t_np = median_seconds(numpy_fn, args.repeat)
            rows.append({"operation": case.name, "shape": case.shape, "dtype": dtype,
                         "numpy_s": t_np, "tensorflow_s": t_tf, "ratio": t_np / t_tf})

    print(f"\n{machine['device']}; {machine['cpus']} CPUs; median of {args.repeat} runs\n")
    print(f"{'operation':<28} {'shape':<34} {'dtype':<8} {'NumPy s':>10} {'TF s':>10} {'NumPy/TF':>9}")
    for r in rows:
        print(f"{r['operation']:<28} {r['shape']:<34} {r['dtype']:<8} {r['numpy_s']:>10.5f} "
              f"{r['tensorflow_s']:>10.5f} {r['ratio']:>9.2f}")

    nb_rows = []
    if not args.no_notebooks:
        print(f"\n{'solution notebook':<28} {'wall s':>8} {'peak MB':>9}")
        for chapter in notebooks.chapter_ids():
            result = {"chapter": chapter, **time_notebook(notebooks.solution_path(chapter))}
            nb_rows.append(result)
            if "error" in result:
                print(f"{chapter:<28} failed: {result['error']}")
            else:
                print(f"{chapter:<28} {result['wall_s']:>8.1f} {result['peak_mb']:>9.0f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "repeat": args.repeat, "operations": rows,
                               "notebooks": nb_rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
