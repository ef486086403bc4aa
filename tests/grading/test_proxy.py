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
    result = shell.run_cell(code, store_history=False)  # as the grader runs its cells (nbclient's execute)
    assert result.error_in_exec is None and result.error_before_exec is None, result
    return result


def test_the_reset_puts_back_the_names_and_values_of_the_baseline_and_empties_the_output_history(shell):
    _run(shell, "import math\nmath")  # the warm-up's import, its value displayed (into _1, as the grader's cells)
    _run(shell, "import os\n__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
    before = dict(shell.user_ns)
    _run(shell, "import numpy as np\nsecret = np.arange(3)\ndef helper():\n    return secret\nos = 'rebound'")
    _run(shell, "secret * 2")  # an expression's value: kept in Out and _ (and _1: the counter does not move)
    assert "secret" in shell.user_ns and shell.user_ns["_"] is not before["_"]
    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).reset_namespace()")
    assert not {"secret", "helper", "np"} & set(shell.user_ns)
    changed = {n for n in before if n not in ("_", "__", "___") and shell.user_ns.get(n) is not before[n]}
    assert not changed, changed  # os and _1 hold what they held before the setup cells
    assert set(shell.user_ns) - set(before) <= {"_i", "_ii", "_iii"}, set(shell.user_ns) - set(before)
    assert shell.user_ns["Out"] == {} and shell.user_ns["_"] == "" and shell.displayhook._ == ""
    _run(shell, "6 * 7")
    assert shell.user_ns["_"] == 42  # IPython's displayhook still updates _ afterwards


def test_the_reset_restores_numeric_rules(shell):
    old = np.geterr()
    try:
        _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
        np.seterr(over="raise")
        _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).restore_baseline()")
        assert np.geterr()["over"] == old["over"]
    finally:
        np.seterr(**old)


def test_the_reset_forgets_the_last_error(shell):
    """What a submission's failed test leaves outside the namespace: its error, whose traceback's frames hold the
    test's values (the student's results among them). A reused grader would otherwise still hold them."""
    import sys

    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
    shell.run_cell("returned = [613]\nassert returned == [0]", store_history=False)
    assert sys.last_value is not None
    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).reset_namespace()")
    assert sys.last_value is None and sys.last_traceback is None
    assert getattr(sys, "last_exc", None) is None
