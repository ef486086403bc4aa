"""Puts tests/ on sys.path, so that tests in subfolders (tests/grading/) import the shared ``classes`` and
``mistakes`` as the tests in tests/ do."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
