"""Support package of the course: compare NumPy with Keras, load notebooks, grade them.

Modules, one concern each:
- ``dlcourse.check``: relative error, ``assert_close``, gradient checks, the tolerance policy.
- ``dlcourse.reference``: TensorFlow/Keras as the reference (quiet import, device, seeds, layers).
- ``dlcourse.notebooks``: where the chapters are, making student versions, loading a notebook's functions.
- ``dlcourse.grading``: nbgrader autograding of one notebook or a class (a package: batch, submission, ...).
- ``dlcourse.sandbox``: the sandboxed kernel's launcher (standard library only: it starts once per submission).
- ``dlcourse.timing``: best-of-N and in-turns median timings, for the chapters' speed tables and ``make bench``.
- ``dlcourse.cli``: the ``dlcourse`` command (check, grade, generate, execute).
"""

__version__ = "0.1.0"

from ._lazy_imports import defer_rfc3987_syntax as _defer

_defer()  # before anything imports nbformat (and so jsonschema): see dlcourse._lazy_imports
