"""What runs inside a student's (sandboxed) kernel while it is graded: the standard library, NumPy and
cloudpickle only, nothing of nbgrader or of ``dlcourse.grading``.

- ``serve``: the student kernel's end of a call from the grader's kernel (``grading.proxy``);
- ``wire``: the plain data that crosses between the two, decoded strictly.
"""
