"""Code that a later chapter takes from an earlier one, in one place (d2l's ``#@save``).

A function or class in a chapter's solution notebook whose ``def``/``class`` line is preceded by a line
``#@save`` is copied, as the solution has it (nbgrader's solution markers dropped), into
``dlcourse/given/<chapter>.py``. A later chapter imports it from there, never re-types it::

    from dlcourse.given.ch04_attention import layer_norm, multi_head_attention

The modules are written by ``make notebooks`` (``dlcourse generate``, through
``dlcourse.notebooks.save_given``) and never edited by hand; ``tests/test_given.py`` fails when one is
not what the solutions say. A chapter's own module holds its solutions, so the grading sandbox hides it
from that chapter's graded answers.
"""
