"""`make bench`: NumPy (the solutions' code) against TensorFlow on the CPU, timed in the same run,
and each solution notebook's wall time and peak memory.

Operations come from benchmarks/cases_<chapter>.py: each module has CASES, a list of
Case(name, shape, make), where make(dtype) returns (numpy_fn, tensorflow_fn), two
zero-argument callables computing the same thing. The NumPy side calls the chapter's
solution functions, loaded with dlcourse.notebooks.load_functions.

Also times the autograder: seconds per graded submission per chapter, and throughput with
--jobs 1 and --jobs 2.

Usage: python benchmarks/run.py [--repeat N] [--no-notebooks] [--no-grading] [--only SUBSTRING] [--out FILE]
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


def time_grading(chapters, copies=2, throughput_copies=4, throughput_chapter="ch00_start"):
    """Seconds per graded submission per chapter (jobs 1), and batch throughput at jobs 1 and 2.

    Submissions are copies of the solution notebook, graded by dlcourse.grading exactly as
    `dlcourse grade` does (sandboxed when bwrap is present).
    """
    import shutil
    import tempfile

    from dlcourse import grading

    sandbox = grading.sandbox_available()

    def batch(chapter, n, jobs):
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(n):
                dest = Path(tmp) / "subs" / f"s{i:02d}" / chapter
                dest.mkdir(parents=True)
                shutil.copyfile(notebooks.solution_path(chapter), dest / f"{chapter}.ipynb")
            start = time.perf_counter()
            results, _ = grading.grade_class(Path(tmp) / "subs", Path(tmp) / "out", chapter=chapter, jobs=jobs,
                                             sandbox=sandbox, progress=False)
            wall = time.perf_counter() - start
            assert all(r.status == "graded" and r.score == r.max_score for r in results), [
                (r.status, r.detail) for r in results]
            return wall

    per_chapter = [{"chapter": c, "copies": copies, "seconds_per_submission": batch(c, copies, 1) / copies}
                   for c in chapters]
    t1 = batch(throughput_chapter, throughput_copies, 1)
    t2 = batch(throughput_chapter, throughput_copies, 2)
    throughput = {"chapter": throughput_chapter, "submissions": throughput_copies,
                  "jobs1_per_min": 60 * throughput_copies / t1, "jobs2_per_min": 60 * throughput_copies / t2,
                  "speedup": t1 / t2, "sandbox": sandbox}
    return per_chapter, throughput


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (median reported)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the solution notebooks")
    parser.add_argument("--no-grading", action="store_true", help="skip timing the autograder")
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

    grading_rows, throughput = [], None
    if not args.no_grading:
        grading_rows, throughput = time_grading(notebooks.chapter_ids())
        print(f"\n{'autograding (dlcourse grade)':<28} {'s/submission':>13}")
        for r in grading_rows:
            print(f"{r['chapter']:<28} {r['seconds_per_submission']:>13.1f}")
        print(f"throughput on {throughput['chapter']} ({throughput['submissions']} submissions, sandbox "
              f"{'on' if throughput['sandbox'] else 'off'}): {throughput['jobs1_per_min']:.1f}/min with --jobs 1, "
              f"{throughput['jobs2_per_min']:.1f}/min with --jobs 2, speed-up {throughput['speedup']:.2f}x")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "repeat": args.repeat, "operations": rows,
                               "notebooks": nb_rows, "grading": grading_rows, "grading_throughput": throughput},
                              indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
