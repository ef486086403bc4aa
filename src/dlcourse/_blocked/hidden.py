"""Mounted inside the grading sandbox over the ``dlcourse.given`` modules of the chapter being graded and of every
later chapter: they hold those chapters' solutions (their ``#@save`` functions), which its graded answers must not
import."""

from dlcourse.sandbox import HIDDEN_MESSAGE

raise ImportError(HIDDEN_MESSAGE)
