"""dlcourse.grading.proxy's reset of the grader's namespace between a submission's two phases, in a real IPython
shell (the grader kernel's): what the visible phase's cells defined is gone before the hidden phase's run."""

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def shell():
    from dlcourse.grading import proxy

    sh = InteractiveShell.instance()
    saved = list(proxy._BASELINE)
    proxy._BASELINE.clear()
    try:
        yield sh
    finally:
        proxy._BASELINE[:] = saved
        InteractiveShell.clear_instance()


def _run(shell, code):
    result = shell.run_cell(code, store_history=True)
    assert result.error_in_exec is None and result.error_before_exec is None, result
    return result


def test_the_reset_removes_every_name_since_the_baseline_and_the_output_history(shell):
    _run(shell, "import os\n__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
    before = set(shell.user_ns)
    _run(shell, "import numpy as np\nsecret = np.arange(3)\ndef helper():\n    return secret\n")
    _run(shell, "secret * 2")  # an expression's value, kept in Out and _
    assert "secret" in shell.user_ns and len(shell.user_ns["Out"]) == 1
    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).reset_namespace()")
    left = set(shell.user_ns) - before
    assert not {"secret", "helper", "np"} & set(shell.user_ns), left
    assert all(name.startswith("_i") for name in left), left  # only IPython's own record of the inputs (_i3, ...)
    assert shell.user_ns["Out"] == {} and shell.user_ns["_"] == ""
    assert shell.user_ns["os"] is __import__("os")  # what was there before stays


def test_the_reset_restores_numeric_rules(shell):
    old = np.geterr()
    try:
        _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
        np.seterr(over="raise")
        _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).restore_baseline()")
        assert np.geterr()["over"] == old["over"]
    finally:
        np.seterr(**old)
