"""The ``dlcourse`` command.

Learners:
  dlcourse check NOTEBOOK           grade your notebook in a fresh kernel, as the instructor would

Instructors:
  dlcourse grade SUBMISSIONS --out OUT [--chapter ID] [--jobs N | --cluster ADDRESS] [--force] [--timeout S]
                                    grade a class: grades.csv and feedback/ in OUT; run it again to
                                    grade only what is new or changed
  dlcourse worker ADDRESS [--nworkers N] [dask worker options]
                                    Dask workers for `dlcourse grade --cluster ADDRESS` on this machine

Maintainers:
  dlcourse generate [CHAPTER ...]   student notebooks from the solutions (nbgrader generate_assignment)
  dlcourse execute [CHAPTER ...]    re-execute solution notebooks in place, storing their outputs
"""

from __future__ import annotations

import argparse
import sys

from tqdm.auto import tqdm

from . import notebooks


def _chapters(names):
    known = notebooks.chapter_ids()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown chapter(s) {unknown}; the course has {known}")
    return names or known


def cmd_generate(args) -> int:
    for path in notebooks.generate_student_notebooks(_chapters(args.chapters)):
        print(f"wrote {path.relative_to(notebooks.course_root())}")
    return 0


def cmd_execute(args) -> int:
    chapters = _chapters(args.chapters)
    for chapter in tqdm(chapters, desc="executing solutions", unit="notebook"):
        notebooks.execute_notebook(notebooks.solution_path(chapter), timeout=args.timeout)
    return 0


def cmd_grade(args) -> int:
    from . import grading

    sandbox = not args.no_sandbox
    if args.cluster and args.jobs is not None:
        print("dlcourse grade: --jobs is for this machine; with --cluster, start more workers instead", file=sys.stderr)
        return 2
    if sandbox and not args.cluster and not grading.sandbox_available():  # a cluster's workers are checked there
        print("dlcourse grade: bwrap is not installed, so student code cannot be sandboxed.\n"
              "Install it (Debian/Ubuntu: apt-get install bubblewrap), or pass --no-sandbox if you trust "
              "every submission.", file=sys.stderr)
        return 2
    try:
        results, notes = grading.grade_class(
            args.submissions, args.out, chapter=args.chapter, jobs=args.jobs or 1, timeout=args.timeout,
            memory_gb=args.memory, sandbox=sandbox, cluster=args.cluster, force=args.force)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # RuntimeError: ClusterError, a broken pool
        print(f"dlcourse grade: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dlcourse grade: interrupted; the rows graded so far are in {args.out}/grades.csv. Run the same "
              "command again to grade the rest.", file=sys.stderr)
        return 130
    print(grading.summary(results, notes))
    print(f"wrote {args.out}/grades.csv and {args.out}/feedback/")
    return 0


def cmd_worker(args) -> int:
    """``dask worker ADDRESS --nthreads 1 --nworkers N``: N gradings at once on this machine."""
    import os
    from pathlib import Path

    from . import grading
    from .grading import batch

    if not grading.sandbox_available():
        print("dlcourse worker: bwrap is not installed, so this machine cannot grade sandboxed: install it "
              "(Debian/Ubuntu: apt-get install bubblewrap)", file=sys.stderr)
        return 2
    dask = Path(sys.executable).with_name("dask")
    target = ["--scheduler-file", args.address] if args.address.endswith(".json") else [args.address]
    argv = [str(dask), "worker", *target, "--nthreads", "1", "--nworkers", str(args.nworkers or batch.cores()),
            *args.dask_args]
    print(" ".join(argv), flush=True)
    os.execv(argv[0], argv)


def cmd_check(args) -> int:
    from pathlib import Path

    from . import grading

    path = Path(args.notebook)
    if not path.is_file():
        print(f"dlcourse check: no such file: {path}", file=sys.stderr)
        return 2
    chapter = args.chapter or path.stem
    if chapter not in notebooks.chapter_ids():
        print(f"dlcourse check: cannot tell the chapter of {path.name}; pass --chapter, one of "
              f"{notebooks.chapter_ids()}", file=sys.stderr)
        return 2
    sandbox = grading.sandbox_available()
    if not sandbox:
        print("(bwrap not found: grading without a sandbox, which is fine for your own code)")
    print(f"grading {path} in a fresh kernel, with the instructor's tests (hidden ones included)...")
    source = grading.ChapterSource.from_course(chapter, notebooks.course_root())
    result = grading.grade_one("you", source, path, None, timeout=args.timeout, sandbox=sandbox)
    if result.status == "unreadable":
        print(f"dlcourse check: {path} is not a readable Jupyter notebook", file=sys.stderr)
        return 1
    print(grading.self_check_table(result))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dlcourse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="regenerate notebooks/ from solutions/ with nbgrader")
    p.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("execute", help="re-execute solution notebooks in place")
    p.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=cmd_execute)

    p = sub.add_parser("check", help="grade one notebook of yours, as the instructor would")
    p.add_argument("notebook", help="path to your notebook, e.g. notebooks/ch00_start/ch00_start.ipynb")
    p.add_argument("--chapter", help="chapter id (default: the notebook's file name)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help="grade a class's submissions")
    p.add_argument("submissions", help="folder laid out <student>/<chapter>/<chapter>.ipynb, or a .zip of one")
    p.add_argument("--out", required=True, help="folder for grades.csv and feedback/")
    p.add_argument("--chapter", help="grade only this chapter")
    p.add_argument("--jobs", type=int, help="notebooks graded in parallel on this machine (default 1)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786) or scheduler file (.json)")
    p.add_argument("--force", action="store_true",
                   help="grade every submission again (by default a run into an existing --out grades only the "
                        "submissions that are new, changed, or ended in error)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell before it is interrupted (default 60)")
    p.add_argument("--memory", type=float, default=4.0, help="GB of memory per student kernel (default 4)")
    p.add_argument("--no-sandbox", action="store_true", help="run student code without bwrap (trusted code only)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("worker", help="start Dask workers for `dlcourse grade --cluster` on this machine")
    p.add_argument("address", help="the scheduler's address (tcp://HOST:8786) or scheduler file (.json)")
    p.add_argument("--nworkers", type=int, help="gradings at once on this machine (default: one per core)")
    p.set_defaults(func=cmd_worker)  # any other option goes on to `dask worker` (e.g. --memory-limit 8GB, --tls-*)

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "worker":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dask_args = extra
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
