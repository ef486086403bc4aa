"""`make bench`: NumPy (the solutions' code) against TensorFlow on the CPU, timed in the same run,
each solution notebook's wall time and peak memory, the autograder's speed, the grading report's speed on
generated classes of 300 and 3,000 students, and (optionally) `make test`.

Operations come from benchmarks/cases_<chapter>.py: each module has CASES, a list of
Case(name, shape, make, baseline, goal), where make(dtype) returns (numpy_fn, tensorflow_fn), two
zero-argument callables computing the same thing (the TensorFlow one ends in NumPy arrays, so both
sides finish their work). The NumPy side calls the chapter's solution functions, loaded with
dlcourse.notebooks.load_functions. goal is issue 9's bound on NumPy time / TensorFlow time (float32).

The two sides are timed in turns (NumPy, TensorFlow, NumPy, ...) so that a busy moment on a shared
machine slows both alike; each reported time is the median of --repeat runs.

Usage: python benchmarks/run.py [--repeat N] [--no-notebooks] [--no-grading] [--no-report] [--no-check]
                                [--make-test]
                                [--only SUBSTRING] [--out FILE] [--docs]
--docs (or its old name --readme) also writes benchmarks/performance.json and the measured part of
docs/maintainers/performance.md (between its performance:start and performance:end markers) from this run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from dlcourse import notebooks, reference, timing  # noqa: E402


@dataclass
class Case:
    name: str
    shape: str
    make: object  # make(dtype) -> (numpy_fn, tensorflow_fn)
    baseline: str = ""  # what the TensorFlow side runs
    goal: float | None = None  # issue 9's bound on NumPy / TensorFlow in float32


def compiled(fn):
    """``tf.function(fn)``: the TensorFlow side as a user who cares about speed would call it."""
    return reference.tf().function(fn)


def load_cases(only=None):
    cases = []
    for path in sorted(HERE.glob("cases_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += [c for c in module.CASES if not only or only in c.name]
    return cases


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        names = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = None
    import numpy as np

    blas = next((lib for lib in np.show_config(mode="dicts").get("Build Dependencies", {}).values()
                 if isinstance(lib, dict) and lib.get("name")), {})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": (commit.stdout.strip() or "unknown") + (" + uncommitted changes" if dirty.stdout.strip() else ""),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_gb, 1) if mem_gb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": f"{np.__version__} ({blas.get('name', '?')} {blas.get('version', '')})".strip(),
        "device": reference.describe_device(),
    }


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


GRADING_GOAL_S = 3.0  # seconds, and CPU seconds, per submission after the first, --jobs 1, every chapter (issue 28)


def time_grading(chapters, copies=5, throughput_copies=4, throughput_chapter="ch03_lstm"):
    """Seconds per graded submission per chapter (jobs 1), and batch throughput at jobs 1 and 2 and on a
    Dask cluster of 2 one-thread workers on this machine (`dlcourse grade --cluster`).

    Per submission: the batch's wall time over its copies, the first submission's cold start (kernels,
    TensorFlow's import) included, as an instructor grading a class of ``copies`` would see it; and after the
    first, (batch of ``copies`` - batch of 1) / (``copies`` - 1), wall and CPU, what each further submission of a
    class costs (the goal's figure: the grader kernel is kept from one submission to the next).

    Submissions are copies of the solution notebook, graded by dlcourse.grading exactly as
    `dlcourse grade` does (sandboxed when bwrap is present). The cluster is started before its timing
    starts, as a cluster outlives a batch; the workers' first task of a chapter includes making its
    nbgrader template, as each --jobs process's does.
    """
    import shutil
    import tempfile

    from dlcourse import grading

    sandbox = grading.sandbox_available()

    def batch(chapter, n, jobs, cluster=None):
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(n):
                dest = Path(tmp) / "subs" / f"s{i:02d}" / chapter
                dest.mkdir(parents=True)
                shutil.copyfile(notebooks.solution_path(chapter), dest / f"{chapter}.ipynb")
            start, cpu = time.perf_counter(), _cpu_now()
            results, _ = grading.grade_class(Path(tmp) / "subs", Path(tmp) / "out", chapter=chapter, jobs=jobs,
                                             sandbox=sandbox, progress=False, cluster=cluster)
            wall = time.perf_counter() - start
            assert all(r.status == "graded" and r.score == r.max_score for r in results), [
                (r.status, r.detail) for r in results]
            return wall, _cpu_now() - cpu

    per_chapter = []
    for c in chapters:
        wall1, cpu1 = batch(c, 1, 1)
        wall, cpu = batch(c, copies, 1)
        steady, steady_cpu = (wall - wall1) / (copies - 1), (cpu - cpu1) / (copies - 1)
        per_chapter.append({"chapter": c, "copies": copies, "seconds_per_submission": wall / copies,
                            "cpu_s_per_submission": cpu / copies, "first_s": wall1, "first_cpu_s": cpu1,
                            "next_s_per_submission": steady, "next_cpu_s_per_submission": steady_cpu,
                            "load_average": os.getloadavg()[0], "goal": GRADING_GOAL_S,
                            "met": steady <= GRADING_GOAL_S and steady_cpu <= GRADING_GOAL_S})
    t1, _ = batch(throughput_chapter, throughput_copies, 1)
    t2, _ = batch(throughput_chapter, throughput_copies, 2)
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        tc, _ = batch(throughput_chapter, throughput_copies, 1, cluster=cluster.scheduler_address)
    throughput = {"chapter": throughput_chapter, "submissions": throughput_copies,
                  "jobs1_per_min": 60 * throughput_copies / t1, "jobs2_per_min": 60 * throughput_copies / t2,
                  "speedup": t1 / t2, "cluster2_per_min": 60 * throughput_copies / tc, "cluster_vs_jobs2": t2 / tc,
                  "sandbox": sandbox}
    return per_chapter, throughput


CHECK_GOAL_S = 8.0  # `dlcourse check` of a solved notebook, cold (no warm service), every chapter
WARM_CHECK_GOAL_S = 3.0  # the same check through JupyterLab's warm service ("Check my grade"), every chapter


def time_round_trip(calls=500, warmup=20):
    """One call of a graded function through the grader's proxy (``proxy.StudentKernel.call``) to a kernel that
    answers as a student's does (``serve.register``), without the sandbox: wall and the grader's CPU ms a call,
    the median of 5 runs of ``calls`` calls of a three-array update, and the load when it started."""
    import numpy as np
    from jupyter_client import KernelManager

    from dlcourse.grading import proxy

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive("from dlcourse.student import serve; serve.register()\n"
                               "def update(w, g, v, lr, m):\n    v = m * v - lr * g\n    return w + v, v",
                               timeout=60, output_hook=lambda msg: None)
        kernel = proxy.StudentKernel(km.connection_file, None)
        w = np.ones((2, 3))
        request = [((w, w, w, 0.1, 0.9), {})]
        for _ in range(warmup):
            kernel.call("update", request, 10, show_output=False)
        load, runs = os.getloadavg()[0], []
        for _ in range(5):
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                kernel.call("update", request, 10, show_output=False)
            runs.append(((time.perf_counter() - start) / calls * 1e3, (time.process_time() - cpu) / calls * 1e3))
        kernel.kc.stop_channels()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    runs.sort()
    return {"calls": calls, "wall_ms": runs[2][0], "grader_cpu_ms": sorted(r[1] for r in runs)[2], "load_average": load}


def _cpu_now() -> float:
    """CPU seconds so far of this process and of its children that have ended (kernels included)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_self_check(chapters, runs=3):
    """The learner's `dlcourse check` of each chapter's solution notebook, cold (a process of its own, fresh
    kernels, TensorFlow imported in the grader's): the median wall and CPU seconds of ``runs``, and the load."""
    rows = []
    for chapter in chapters:
        walls, cpus = [], []
        for _ in range(runs):
            cpu, start = _cpu_now(), time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "dlcourse.cli", "check", str(notebooks.solution_path(chapter)),
                                   "--course", str(ROOT)], capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu_now() - cpu)
            if proc.returncode != 0 or "passed" not in proc.stdout:
                raise SystemExit(f"dlcourse check {chapter} failed: {proc.stderr[-2000:]}")
        wall = sorted(walls)[runs // 2]
        rows.append({"chapter": chapter, "runs": runs, "wall_s": wall, "cpu_s": sorted(cpus)[runs // 2],
                     "load_average": os.getloadavg()[0], "goal": CHECK_GOAL_S, "met": wall <= CHECK_GOAL_S})
    return rows


def _lab_server(folder: Path):
    """A `jupyter server` with the course's self-check service (dlcourse.lab), rooted at the course: (process,
    a function that POSTs a body to /dlcourse/check and returns the answer)."""
    import secrets
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(folder / "config"), JUPYTER_RUNTIME_DIR=str(folder / "runtime"))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyter"), "server", "--no-browser",
                             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--allow-root"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def call(body=None, timeout=600):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/dlcourse/check", method="GET" if body is None else "POST",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback
            return json.loads(r.read())

    deadline = time.monotonic() + 120
    while True:
        try:
            if call(timeout=5).get("enabled"):
                return proc, call
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("jupyter server with the self-check service did not start")
            time.sleep(0.5)


def time_warm_check(chapters, runs=3, pause_s=10.0):
    """Each chapter's solution checked through the warm service, as the "Check my grade" button asks for it: the
    notebook opened (its kernels started), then ``runs`` checks ``pause_s`` apart (a learner reads the table
    before the next click; the next check's kernels start in that time). The median wall seconds of the POST."""
    import signal
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-lab-") as tmp:
        proc, call = _lab_server(Path(tmp))
        try:
            for chapter in chapters:
                path = notebooks.solution_path(chapter).relative_to(ROOT).as_posix()
                call({"path": path, "warm": True})
                time.sleep(2 * pause_s)  # the grader's TensorFlow import, on a quiet machine 4-5 s
                walls = []
                for _ in range(runs):
                    start = time.perf_counter()
                    report = call({"path": path})
                    walls.append(time.perf_counter() - start)
                    if report["score"] != report["max_score"]:
                        raise SystemExit(f"the warm check of {chapter}'s solution gave {report['table']}")
                    time.sleep(pause_s)
                wall = sorted(walls)[runs // 2]
                rows.append({"chapter": chapter, "runs": runs, "pause_s": pause_s, "wall_s": wall, "load_average": os.getloadavg()[0],
                             "goal": WARM_CHECK_GOAL_S, "met": wall <= WARM_CHECK_GOAL_S})
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    return rows


def _timed_report(out):
    """Build the report of ``out`` once: (wall seconds, CPU seconds: user and system, the forked
    per-chapter workers' too, load average over the last minute when it started)."""
    from dlcourse.grading import report

    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), os.times()
    report.build_report(out)
    wall, after = time.perf_counter() - start, os.times()
    return wall, sum(after[:4]) - sum(cpu[:4]), load


def time_report(sizes=(300, 3000), runs=3):
    """Wall and CPU time of the report (`dlcourse report`: statistics, similarity, exports) on generated
    classes of each size: every chapter, synthetic grades and small answer files
    (dlcourse.grading.synthetic), no grading. First from the answer files alone (every file tokenised by
    pygments, the slow part), once; then with the tokens saved, as grading leaves them, ``runs`` times:
    the run of median wall time is reported (wall_s, cpu_s, load_average: the figures that count)."""
    import tempfile

    from dlcourse.grading import synthetic

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            synthetic.make_class(Path(tmp), n)
            answers = sum(1 for _ in Path(tmp).glob("answers/*/*.py"))
            cold, cold_cpu, cold_load = _timed_report(Path(tmp))  # tokenises every answer file, saves the tokens
            timed = sorted(_timed_report(Path(tmp)) for _ in range(runs))  # the tokens saved, as grading leaves them
            wall, cpu_s, load = timed[len(timed) // 2]
            with open(Path(tmp) / "report" / "similarity.csv") as f:
                flagged = sum(1 for line in f if line.rstrip().endswith(",yes"))
            rows.append({"students": n, "answer_files": answers, "wall_s": wall, "cpu_s": cpu_s, "runs": runs,
                         "wall_s_runs": [t[0] for t in timed], "tokenising_too_s": cold, "tokenising_too_cpu_s": cold_cpu,
                         "tokenising_too_load_average": cold_load, "flagged": flagged,
                         "load_average": load, "html_kb": (Path(tmp) / "report" / "index.html").stat().st_size / 1024})
    return rows


def time_make_test():
    """Wall time of `make test` in this checkout (dependencies already installed), and whether it passed."""
    start = time.perf_counter()
    proc = subprocess.run(["make", "test"], cwd=ROOT, capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    return {"wall_s": time.perf_counter() - start, "passed": proc.returncode == 0, "tail": tail}


def time_operations(cases, repeat):
    tf = reference.tf()
    rows = []
    for case in cases:
        for dtype in ("float32", "float64"):
            numpy_fn, tf_fn = case.make(dtype)
            with tf.device("/CPU:0"):
                t_np, t_tf = timing.median_times({"numpy": numpy_fn, "tf": tf_fn}, repeat).values()
            ratio = t_np / t_tf
            goal = case.goal if dtype == "float32" else None
            rows.append({"operation": case.name, "shape": case.shape, "dtype": dtype, "baseline": case.baseline,
                         "numpy_s": t_np, "tensorflow_s": t_tf, "ratio": ratio, "goal": goal,
                         "met": None if goal is None else ratio <= goal})
    return rows


def verdict(row):
    if row["goal"] is None:
        return ""
    return f"<= {row['goal']:g}: {'met' if row['met'] else 'MISSED'}"


def goal_summary(rows):
    graded = [r for r in rows if r["goal"] is not None]
    met = [r for r in graded if r["met"]]
    missed = ", ".join(f"`{r['operation']}` {r['ratio']:.2f} (goal {r['goal']:g})" for r in graded if not r["met"])
    return (f"**Goals: {len(met)} of {len(graded)} float32 rows met**" + (f"; missed: {missed}." if missed else ".")
            + " Rows marked (beside) are the faster versions the chapters show next to the graded answer.")


def render_markdown(result):
    """The measured part of docs/maintainers/performance.md, from one run's JSON."""
    m = result["machine"]
    lines = [
        f"Measured by `make bench ARGS=\"--make-test --docs\"` on {m['date']} at commit {m['commit']}: {m['cpus']} cores "
        f"({m['cpu']}), {m['memory_gb']} GB RAM, {m['platform']}, Python {m['python']}, NumPy {m['numpy']}, "
        f"{m['device']}. The same run wrote `benchmarks/performance.json`. Each time is the median of "
        f"{result['repeat']} runs, NumPy and TensorFlow timed in turns in one process; the goals are issue 9's "
        "(float32). Another machine gives other times; the ratios move less.",
        "",
        goal_summary(result["operations"]),
        "",
        "| operation | shape | dtype | NumPy ms | TensorFlow ms | TensorFlow side | NumPy / TF | goal |",
        "|---|---|---|---:|---:|---|---:|---|",
    ]
    for r in result["operations"]:
        lines.append(f"| `{r['operation']}` | {r['shape']} | {r['dtype']} | {1e3 * r['numpy_s']:.2f} | "
                     f"{1e3 * r['tensorflow_s']:.2f} | {r['baseline']} | {r['ratio']:.2f} | {verdict(r)} |")
    if result["notebooks"]:
        lines += ["", "| solution notebook, run top to bottom | wall s (goal < 60) | kernel peak MB (goal < 1536) |",
                  "|---|---:|---:|"]
        for r in result["notebooks"]:
            if "error" in r:
                lines.append(f"| {r['chapter']} | failed: {r['error']} | |")
            else:
                lines.append(f"| {r['chapter']} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} |")
    if result["grading"]:
        th = result["grading_throughput"]
        lines += ["", "| autograding (`dlcourse grade`, sandbox " + ("on" if th["sandbox"] else "off")
                  + f") | seconds per submission, --jobs 1 (goal <= {result['grading'][0].get('goal', GRADING_GOAL_S):g}) | submissions |",
                  "|---|---:|---:|"]
        if all("next_s_per_submission" in r for r in result["grading"]):  # runs before 2026-12-07: no such figure
            lines[-2] = (f"| autograding (`dlcourse grade --jobs 1`, sandbox {'on' if th['sandbox'] else 'off'}) | "
                         "first submission, s | CPU s | each further one, s "
                         f"(goal <= {GRADING_GOAL_S:g}) | CPU s (goal <= {GRADING_GOAL_S:g}) | "
                         "whole batch, s per submission | submissions |")
            lines[-1] = "|---|---:|---:|---:|---:|---:|---:|"
            lines += [f"| {r['chapter']} | {r['first_s']:.1f} | {r['first_cpu_s']:.1f} | "
                      f"{r['next_s_per_submission']:.1f} | {r['next_cpu_s_per_submission']:.1f} | "
                      f"{r['seconds_per_submission']:.1f} | {r['copies']} |" for r in result["grading"]]
        elif all("cpu_s_per_submission" in r for r in result["grading"]):  # runs before 2026-12-03 have no CPU figure
            lines[-2] = lines[-2].replace(" | submissions |", " | CPU s per submission | submissions |")
            lines[-1] = "|---|---:|---:|---:|"
            lines += [f"| {r['chapter']} | {r['seconds_per_submission']:.1f} | {r['cpu_s_per_submission']:.1f} | "
                      f"{r['copies']} |" for r in result["grading"]]
        else:
            lines += [f"| {r['chapter']} | {r['seconds_per_submission']:.1f} | {r['copies']} |" for r in result["grading"]]
        lines += ["", f"Batch throughput on {th['chapter']}, {th['submissions']} submissions: "
                      f"{th['jobs1_per_min']:.1f} per minute with `--jobs 1`, {th['jobs2_per_min']:.1f} with "
                      f"`--jobs 2` (speed-up {th['speedup']:.2f}x on {m['cpus']} cores)"
                      + (f", {th['cluster2_per_min']:.1f} with `--cluster` on 2 one-thread Dask workers on this "
                         f"machine ({th['cluster_vs_jobs2']:.2f}x `--jobs 2`'s; goal >= 0.9)."
                         if "cluster2_per_min" in th else ".")]
    if result.get("self_check"):
        lines += ["", f"| the learner's `dlcourse check`, cold (median of {result['self_check'][0]['runs']}) | wall s "
                      f"(goal <= {CHECK_GOAL_S:g}) | CPU s | load average |", "|---|---:|---:|---:|"]
        lines += [f"| {r['chapter']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load_average']:.1f} |"
                  for r in result["self_check"]]
    if result.get("warm_check"):
        lines += ["", f"| the same check through JupyterLab's warm service (\"Check my grade\"; median of "
                      f"{result['warm_check'][0]['runs']}, {result['warm_check'][0].get('pause_s', 10):g} s apart) | wall s "
                      f"(goal <= {WARM_CHECK_GOAL_S:g}) | load average |", "|---|---:|---:|"]
        lines += [f"| {r['chapter']} | {r['wall_s']:.1f} | {r['load_average']:.1f} |" for r in result["warm_check"]]
    if result.get("report"):
        lines += ["", f"| grading report (`dlcourse report`), generated class | answer files | wall s (median of "
                      f"{result['report'][0]['runs']}) | CPU s | load average | tokenising too: wall s | CPU s | "
                      "load average | pairs flagged |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['students']} students | {r['answer_files']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                  f"{r['load_average']:.1f} | {r['tokenising_too_s']:.1f} | {r['tokenising_too_cpu_s']:.1f} | "
                  f"{r['tokenising_too_load_average']:.1f} | {r['flagged']} |" for r in result["report"]]
    if result.get("make_test"):
        mt = result["make_test"]
        lines += ["", f"`make test` (installs already done): {mt['wall_s'] / 60:.1f} min, "
                      f"{'passed' if mt['passed'] else 'FAILED'}."]
    return "\n".join(lines)


PERFORMANCE_DOC = ROOT / "docs" / "maintainers" / "performance.md"
DOC_START, DOC_END = "<!-- performance:start -->", "<!-- performance:end -->"


def write_docs(result, doc=PERFORMANCE_DOC):
    """Replace what lies between the markers of ``doc`` with ``render_markdown(result)``; the prose around
    them (what the figures say, their history) is left as it is."""
    text = doc.read_text(encoding="utf-8")
    if text.count(DOC_START) != 1 or text.count(DOC_END) != 1 or text.index(DOC_START) > text.index(DOC_END):
        raise SystemExit(f"{doc} needs one {DOC_START} line, then one {DOC_END} line, to fill in between")
    head, rest = text.split(DOC_START, 1)
    _, tail = rest.split(DOC_END, 1)
    doc.write_text(f"{head}{DOC_START}\n{render_markdown(result)}\n{DOC_END}{tail}", encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per measurement (median reported)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip executing the solution notebooks")
    parser.add_argument("--no-grading", action="store_true", help="skip timing the autograder")
    parser.add_argument("--no-report", action="store_true", help="skip timing the grading report")
    parser.add_argument("--no-check", action="store_true", help="skip timing the learner's `dlcourse check`")
    parser.add_argument("--make-test", action="store_true", help="also time `make test` (several minutes)")
    parser.add_argument("--only", help="run only the operations whose name contains this")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"), help="JSON output file")
    parser.add_argument("--docs", "--readme", dest="docs", action="store_true",
                        help="also write benchmarks/performance.json and docs/maintainers/performance.md's figures")
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5 (the median of fewer runs is noise)")
    if args.docs and (args.only or args.no_notebooks or args.no_grading or args.no_report or args.no_check
                      or not args.make_test):
        parser.error("--docs reports everything: use it with --make-test and without --only/--no-*")

    machine = machine_info()
    rows = time_operations(load_cases(args.only), args.repeat)
    print(f"\n{machine['device']}; {machine['cpus']} CPUs ({machine['cpu']}); median of {args.repeat} runs\n")
    print(f"{'operation':<32} {'shape':<36} {'dtype':<8} {'NumPy ms':>9} {'TF ms':>9} {'NumPy/TF':>9}  goal")
    for r in rows:
        print(f"{r['operation']:<32} {r['shape']:<36} {r['dtype']:<8} {1e3 * r['numpy_s']:>9.2f} "
              f"{1e3 * r['tensorflow_s']:>9.2f} {r['ratio']:>9.2f}  {verdict(r)}")

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
            print(f"{r['chapter']:<28} {r['seconds_per_submission']:>13.1f} {r['cpu_s_per_submission']:>7.1f} CPU s; "
                  f"first {r['first_s']:.1f} s ({r['first_cpu_s']:.1f} CPU s), each further one "
                  f"{r['next_s_per_submission']:.1f} s ({r['next_cpu_s_per_submission']:.1f} CPU s), goal <= {r['goal']:g}: "
                  f"{'met' if r['met'] else 'MISSED'}")
        print(f"throughput on {throughput['chapter']} ({throughput['submissions']} submissions, sandbox "
              f"{'on' if throughput['sandbox'] else 'off'}): {throughput['jobs1_per_min']:.1f}/min with --jobs 1, "
              f"{throughput['jobs2_per_min']:.1f}/min with --jobs 2, speed-up {throughput['speedup']:.2f}x; "
              f"{throughput['cluster2_per_min']:.1f}/min on 2 Dask workers, {throughput['cluster_vs_jobs2']:.2f}x "
              "--jobs 2 (goal >= 0.9)")

    round_trip = None
    if not args.no_grading:
        round_trip = time_round_trip()
        print(f"one call to the student's kernel: {round_trip['wall_ms']:.2f} ms, the grader's CPU "
              f"{round_trip['grader_cpu_ms']:.2f} ms (median of 5 x {round_trip['calls']} calls, load "
              f"{round_trip['load_average']:.1f})")

    check_rows, warm_rows = [], []
    if not args.no_check:
        check_rows = time_self_check(notebooks.chapter_ids())
        warm_rows = time_warm_check(notebooks.chapter_ids())
        for title, rows in (("self-check (dlcourse check), cold", check_rows), ("self-check, warm service", warm_rows)):
            print(f"\n{title:<34} {'wall s':>7} {'CPU s':>7} {'load':>6}  goal")
            for r in rows:
                cpu = f"{r['cpu_s']:>7.1f}" if "cpu_s" in r else f"{'':>7}"
                print(f"{r['chapter']:<34} {r['wall_s']:>7.1f} {cpu} {r['load_average']:>6.1f}  "
                      f"<= {r['goal']:g}: {'met' if r['met'] else 'MISSED'}")

    report_rows = []
    if not args.no_report:
        report_rows = time_report()
        print(f"\n{'grading report, generated class':<32} {'files':>6} {'wall s':>8} {'CPU s':>8} {'load':>6} "
              f"{'+tokens s':>10} {'CPU s':>8} {'load':>6} {'flagged':>8}")
        for r in report_rows:
            print(f"{str(r['students']) + ' students':<32} {r['answer_files']:>6} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                  f"{r['load_average']:>6.1f} {r['tokenising_too_s']:>10.1f} {r['tokenising_too_cpu_s']:>8.1f} "
                  f"{r['tokenising_too_load_average']:>6.1f} {r['flagged']:>8}")

    make_test = None
    if args.make_test:
        print("\ntiming `make test` ...", flush=True)
        make_test = time_make_test()
        print(f"make test: {make_test['wall_s']:.0f} s, {'passed' if make_test['passed'] else 'FAILED'}")

    result = {"machine": machine, "repeat": args.repeat, "operations": rows, "notebooks": nb_rows,
              "grading": grading_rows, "grading_throughput": throughput, "round_trip": round_trip, "self_check": check_rows, "warm_check": warm_rows, "report": report_rows, "make_test": make_test}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    if args.docs:
        (HERE / "performance.json").write_text(json.dumps(result, indent=2) + "\n")
        write_docs(result)
        print(f"wrote {HERE / 'performance.json'} and {PERFORMANCE_DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
