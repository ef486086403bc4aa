"""The ``dlcourse`` command.

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

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
