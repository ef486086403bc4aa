"""The ``dlcourse`` command.

Learners:
  dlcourse check NOTEBOOK           grade your notebook as the instructor would (fresh kernels)

Instructors:
  dlcourse grade SUBMISSIONS --out OUT [--chapter ID] [--jobs N | --cluster ADDRESS] [--force] [--roster CSV]
                                    grade a class (our layout, or a Moodle or Canvas export): grades.csv,
                                    feedback/ and the report in OUT; on a course's submitted/ folder
                                    (nbgrader collect), also its gradebook and feedback/. Run it again to
                                    grade only what is new, changed or ended in error
  dlcourse worker ADDRESS [--nworkers N] [dask worker options]
                                    Dask workers for `dlcourse grade --cluster ADDRESS` on this machine
  dlcourse report OUT [--roster CSV] [--similarity-threshold X]
                                    OUT/report/index.html: statistics, similar pairs, gradebook exports
  dlcourse classroom [--dir DIR]    a JupyterHub on 127.0.0.1 with nbgrader's exchange (`make classroom`)

The course folder is --course, else $DLCOURSE_ROOT, else the one the working directory (for check: the
notebook, then the working directory) lies in. Without one, check grades with the notebook's own visible tests.

Maintainers:
  dlcourse generate [CHAPTER ...]   student notebooks from the solutions (nbgrader generate_assignment),
                                    dlcourse/given/ and the exercise map docs/exercises.md
  dlcourse execute [CHAPTER ...]    re-execute solution notebooks in place, storing their outputs
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from . import notebooks
from .grading.text import printable, printable_lines
from .sandbox import no_bwrap, sandbox_available


def _course(args):
    """The course folder named by --course (checked), else notebooks.course_root()."""
    if getattr(args, "course", None):
        root = Path(args.course).resolve()
        if not notebooks.is_course(root):
            raise SystemExit(f"--course {args.course}: not a course folder (no solutions/ and autograde/nbgrader_config.py)")
        return root
    return notebooks.course_root()


def _chapters(names):
    known = notebooks.chapter_ids()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown chapter(s) {unknown}; the course has {known}")
    return names or known


def cmd_generate(args) -> int:
    for path in notebooks.save_given(_chapters(args.chapters)):
        print(f"wrote {path.relative_to(path.parents[3])}")
    for path in notebooks.generate_student_notebooks(_chapters(args.chapters)):
        print(f"wrote {path.relative_to(notebooks.course_root())}")
    from . import exercise_map  # the map covers every chapter, whichever were generated

    if (path := exercise_map.write()) is not None:
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
    if sandbox and not sandbox_available():
        print(f"dlcourse grade: {no_bwrap('this machine', no_sandbox=True)}", file=sys.stderr)
        return 2
    for what, given in (("roster", args.roster), ("assignments file", args.assignments),
                        ("extensions file", args.extensions)):
        if given and not os.path.isfile(given):
            print(f"dlcourse grade: no such {what}: {given}", file=sys.stderr)
            return 2

    from .grading import gradebook

    collected = gradebook.collected_course(Path(args.submissions))
    try:
        root = collected or _course(args)
        results, notes = grading.grade_class(
            args.submissions, args.out, chapter=args.chapter, jobs=args.jobs, timeout=args.timeout,
            memory_gb=args.memory, sandbox=sandbox, root=root, cluster=args.cluster, force=args.force)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # RuntimeError: ClusterError, a broken pool
        print(f"dlcourse grade: {printable_lines(err)}", file=sys.stderr)  # it may quote a student's file or id
        return 2
    except KeyboardInterrupt:
        print(f"dlcourse grade: interrupted; the rows graded so far are in {args.out}/grades.csv. Run the same "
              "command again to grade the rest.", file=sys.stderr)
        return 130
    if collected:
        from .grading import exports

        try:  # names for the formgrader; a broken roster is reported by the report step below
            roster = exports.read_roster(args.roster) if args.roster else exports.remember(Path(args.out))["roster"]
        except ValueError:
            roster = None
        names = {student: entry.get("name", "") for student, entry in (roster or {}).items()}
        notes += gradebook.record_collected(collected, results, Path(args.out) / "feedback", names)
        notes += gradebook.bring_back_manual_grades(collected, Path(args.out))
        args.due_dates = gradebook.due_dates(collected)
    print(grading.summary(results, notes))
    print(f"wrote {args.out}/grades.csv and {args.out}/feedback/")
    if collected:
        chapters = " ".join(sorted({r.chapter for r in results}))
        print(f"and, for nbgrader: the scores in {collected}/gradebook.db (which the formgrader reads), the feedback "
              f"in {collected}/feedback/; hand it back with:\n  cd {collected} && "
              f"{Path(sys.executable).with_name('nbgrader')} release_feedback {chapters}")
    if args.no_report:
        return 0
    return cmd_report(args)


def cmd_report(args) -> int:
    from .grading import late, report

    try:
        policy = late.Policy(args.late_penalty, args.grace) if args.late_penalty is not None else None
        built = report.build_report(args.out, roster_path=args.roster, threshold=args.similarity_threshold,
                                    assignments_path=args.assignments, extensions_path=args.extensions,
                                    policy=policy, due_dates=getattr(args, "due_dates", None))
    except (ValueError, FileNotFoundError) as err:
        print(f"dlcourse report: {printable_lines(err)}", file=sys.stderr)  # a roster's error may quote its names
        return 2
    print(f"wrote {built.index} (open it in a browser), and beside it similarity.csv, canvas.csv, moodle.csv, "
          "grades_wide.csv")
    edited = built.edited  # the rows the report lists under 'Needs your attention'
    if edited:
        print(f"{len(edited)} score(s) in grades.csv were changed by hand after grading (the LMS files have them, the "
              "feedback does not): " + ", ".join(printable(f"{r['student']}/{r['chapter']} {r['graded']} -> {r['now']}")
                                                for r in edited[:10])
              + ("..." if len(edited) > 10 else "") + "; the report's 'Needs your attention' says how to give them "
              "in the formgrader instead")
    return 0


def cmd_worker(args) -> int:
    """``dask worker ADDRESS --nthreads 1 --nworkers N``: N gradings at once on this machine."""
    from .grading import task

    if not sandbox_available():
        print(f"dlcourse worker: {no_bwrap('this machine')}", file=sys.stderr)
        return 2
    dask = Path(sys.executable).with_name("dask")
    target = ["--scheduler-file", args.address] if args.address.endswith(".json") else [args.address]
    argv = [str(dask), "worker", *target, "--nthreads", "1", "--nworkers", str(args.nworkers or task.cores()),
            *args.dask_args]
    print(" ".join(argv), flush=True)
    os.execv(argv[0], argv)


def cmd_check(args) -> int:
    from . import selfcheck

    try:
        target = selfcheck.locate(args.notebook, args.chapter, Path(args.course) if args.course else None)
    except selfcheck.CheckError as err:
        print(f"dlcourse check: {err}", file=sys.stderr)
        return 2
    if args.timeout is None:  # the running JupyterLab's warm service, if it can grade this notebook
        from .lab import client

        answer = client.check(target)
        if answer is not None:
            print(f"graded {target.path} by the check service of your JupyterLab at {printable(answer['url'])} "
                  "(your answers in fresh kernels, the instructor's tests in the grader's kernel)...")
            return _print_check(answer["report"]["status"], answer["report"]["table"], answer["report"]["detail"],
                                target, answer["report"]["visible_only"])
    sandbox = sandbox_available()
    if not sandbox:
        print("(bwrap not found: grading without a sandbox, which is fine for your own code)")
    if target.visible_only:
        print(f"grading {target.path} as the instructor will (your answers in fresh kernels without TensorFlow), with "
              + selfcheck.VISIBLE_ONLY)
    else:
        print(f"grading {target.path} as the instructor will: your answers in fresh kernels without TensorFlow, "
              "the instructor's tests (hidden ones included) in the grader's kernel...")
    result = selfcheck.Checker(timeout=args.timeout, sandbox=sandbox).check(target)
    from .grading import self_check_table

    return _print_check(result.status, self_check_table(result), result.detail, target, target.visible_only)


def _print_check(status: str, table: str, detail: str, target, visible_only: bool) -> int:
    if status == "unreadable":
        print(f"dlcourse check: {printable(target.path.name)}: {printable(detail)}", file=sys.stderr)
        return 1
    print(printable_lines(table))  # an instructor may check a student's notebook
    if visible_only:
        print("(visible tests only: hidden tests are not available here)")
    return 0


def cmd_classroom(args) -> int:
    from . import classroom

    return classroom.main(args)


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="regenerate notebooks/ from solutions/ with nbgrader")
    p.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    p.set_defaults(func=cmd_generate)


def _add_execute(sub) -> None:
    p = sub.add_parser("execute", help="re-execute solution notebooks in place")
    p.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=cmd_execute)


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="grade one notebook of yours, as the instructor would")
    p.add_argument("notebook", help="path to your notebook, e.g. notebooks/ch00_start/ch00_start.ipynb")
    p.add_argument("--chapter", help="chapter id (default: the notebook's file name)")
    p.add_argument("--timeout", type=int, help="seconds per cell (default: grading's, 60); given, the check runs here, "
                                               "not in JupyterLab's service")
    p.add_argument("--course", help="the course folder, for its hidden tests (default: $DLCOURSE_ROOT, else the "
                                    "course the notebook or the working directory lies in; without one, the "
                                    "notebook's visible tests only)")
    p.set_defaults(func=cmd_check)


def _report_options(p) -> None:
    from .grading import similarity

    p.add_argument("--roster", help="CSV mapping our student ids to the LMS's: columns student, lms_id, name "
                                    "(and optionally section, sis_user_id, sis_login_id)")
    p.add_argument("--assignments", help="CSV naming each chapter's LMS assignment: columns chapter, name, and "
                                         "optionally lms_id (Canvas's assignment id) and due (its due date). Kept "
                                         "in OUT with the roster, so a later run writes the same columns")
    p.add_argument("--extensions", help="CSV of extensions: columns student, chapter, hours (kept in OUT)")
    p.add_argument("--late-penalty", type=float, metavar="PERCENT",
                   help="late work loses PERCENT %% of the chapter's points per day or part of one after the due "
                        "date and any extension (kept in OUT; default 0: late work is marked, not penalised)")
    p.add_argument("--grace", type=float, default=0.0, metavar="MINUTES",
                   help="minutes after the due date that are not late (with --late-penalty)")
    p.add_argument("--similarity-threshold", type=float, default=similarity.DEFAULT_THRESHOLD,
                   help=f"flag pairs whose answer code is at least this alike, 0 to 1 "
                        f"(default {similarity.DEFAULT_THRESHOLD})")


def _add_grade(sub) -> None:
    from .grading import intake

    p = sub.add_parser("grade", help="grade a class's submissions", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Grade a class. The submissions are a folder or a .zip in one of these layouts "
                                   "(the student id is taken from the folder or file name):\n" + intake.LAYOUTS +
                                   "\n\nA Moodle or Canvas export is one assignment, so one chapter: the one given by "
                                   "--chapter, else the one its notebooks name (a chapter id in the file name) or "
                                   "carry (the chapter's nbgrader cells).\n\nGrading into an existing --out resumes and merges: only "
                                   "submissions that are new, changed (by content hash) or ended in error are "
                                   "graded, their rows replace theirs in grades.csv, all others are kept; --force "
                                   "grades everything again.")
    p.add_argument("submissions", help="a folder or a .zip: ours, a Moodle export or a Canvas export")
    p.add_argument("--out", required=True, help="folder for grades.csv, feedback/ and report/")
    p.add_argument("--chapter", help="grade only this chapter (the chapter of a Moodle or Canvas export)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel on this machine (default 1)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786, tls://...) or scheduler "
                        "file (.json); start workers with `dlcourse worker ADDRESS`")
    p.add_argument("--force", action="store_true",
                   help="grade every submission again (by default a run into an existing --out grades only the "
                        "submissions that are new, changed, or ended in error)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell before it is interrupted (default 60)")
    p.add_argument("--memory", type=float, default=4.0, help="GB of memory per student kernel (default 4)")
    p.add_argument("--no-sandbox", action="store_true", help="run student code without bwrap (trusted code only)")
    p.add_argument("--no-report", action="store_true", help="do not write OUT/report/ at the end")
    p.add_argument("--course", help="the course folder (default: $DLCOURSE_ROOT, else the one the working "
                                    "directory lies in; for <course>/submitted, that course)")
    _report_options(p)
    p.set_defaults(func=cmd_grade)


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="the report of a grading run: statistics, similar pairs, gradebook exports")
    p.add_argument("out", help="the --out folder of a grading run (holding grades.csv)")
    _report_options(p)
    p.set_defaults(func=cmd_report)


def _add_classroom(sub) -> None:
    from . import classroom

    p = sub.add_parser("classroom", help="start a JupyterHub classroom on 127.0.0.1 (instructor and students)")
    classroom.add_arguments(p)
    p.set_defaults(func=cmd_classroom)


def _add_worker(sub) -> None:
    p = sub.add_parser("worker", help="start Dask workers for `dlcourse grade --cluster` on this machine")
    p.add_argument("address", help="the scheduler's address (tcp://HOST:8786) or scheduler file (.json)")
    p.add_argument("--nworkers", type=int, help="gradings at once on this machine (default: one per core)")
    p.set_defaults(func=cmd_worker)  # any other option goes on to `dask worker` (e.g. --memory-limit 8GB, --tls-*)


COMMANDS = (_add_generate, _add_execute, _add_check, _add_grade, _add_report, _add_classroom, _add_worker)


def parser() -> argparse.ArgumentParser:
    """The ``dlcourse`` command's parser: one subcommand per function of ``COMMANDS``."""
    p = argparse.ArgumentParser(prog="dlcourse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def main(argv=None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "worker":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dask_args = extra
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
