"""Mounted over TensorFlow, Keras (and other frameworks) inside the grading sandbox: graded answers are NumPy."""

from dlcourse.sandbox import BLOCKED_MESSAGE

raise ImportError(BLOCKED_MESSAGE)
