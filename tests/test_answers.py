"""dlcourse.answers: the visible tests' way of calling a learner's function names each failure's cause.

No TensorFlow here: a stand-in module named ``tensorflow`` and a class that claims to live in it are enough,
since the checks look at module names. The catalogue (tests/mistakes) runs the same paths through the real
grader, where the learner's code runs in a sandbox without TensorFlow.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from dlcourse import answers
from dlcourse.sandbox import BLOCKED_MESSAGE

fake_tf = types.ModuleType("tensorflow")
FakeTensor = type("EagerTensor", (), {"__module__": "tensorflow.python.framework.ops"})
fake_tf.relu = lambda z: FakeTensor()
fake_tf.relu_numpy = lambda z: np.maximum(z, 0)  # as tf.nn.relu(z).numpy(): TensorFlow inside, NumPy out


def learner(src: str, **globals_):
    """A function defined as a learner's cell would define it, in a namespace of its own."""
    ns = {"np": np, **globals_}
    exec(src, ns)
    return next(v for k, v in ns.items() if isinstance(v, types.FunctionType) and k not in globals_)


def test_a_correct_answer_passes_through():
    relu = learner("def relu(z):\n    return np.maximum(z, 0)")
    assert np.array_equal(answers.call(relu, np.array([-1.0, 2.0])), [0.0, 2.0])


@pytest.mark.parametrize("src, glb", [
    ("def relu(z):\n    return tf.relu(z)", {"tf": fake_tf}),  # the learner's kernel: tf imported by a setup cell
    ("def relu(z):\n    return tf.relu_numpy(z)", {"tf": fake_tf}),  # a NumPy array back, TensorFlow inside
    ("def relu(z):\n    f = lambda v: tf.relu(v)\n    return f(z)", {"tf": fake_tf}),  # inside a lambda
    ("def relu(z):\n    return tf.relu(z)", {}),  # the grader's sandbox: tf undefined
])
def test_tensorflow_in_an_answer_says_write_it_in_numpy(src, glb):
    with pytest.raises(answers.NumpyOnly, match="write it in NumPy"):
        answers.call(learner(src, **glb), np.zeros(2))


def test_a_returned_tensor_says_write_it_in_numpy():
    def relu(z):  # no tf among its names (a proxy, say), but it hands back a tensor
        return (z, 1)
    with pytest.raises(answers.NumpyOnly, match="returned a tensorflow"):
        answers.call(relu, FakeTensor())


def test_the_sandbox_s_blocked_import_says_write_it_in_numpy():
    def relu(z):
        raise NameError(f"relu is not defined: its answer cell failed with ImportError: {BLOCKED_MESSAGE}")
    with pytest.raises(answers.NumpyOnly, match="write it in NumPy"):
        answers.call(relu, 0)


def test_another_name_error_is_left_alone():
    relu = learner("def relu(z):\n    return np.maxium(z, 0) + undefined_name")
    with pytest.raises(AttributeError):
        answers.call(relu, np.zeros(2))
    with pytest.raises(NameError, match="undefined_name"):
        answers.call(learner("def relu(z):\n    return undefined_name"), 0)


def test_a_raw_numpy_error_is_named_by_the_hint():
    dense = learner("def dense_forward(x, W, b):\n    return W @ x + b")
    with pytest.raises(AssertionError, match=r"^dense_forward raised ValueError\. Likely cause: x @ W") as info:
        answers.call(dense, np.ones((4, 3)), np.ones((3, 5)), np.ones(5), hint="x @ W, (N, D) @ (D, M)")
    assert "(the error: matmul: Input operand 1 has a mismatch" in str(info.value)  # its words, whoever raised it (here NumPy)
    with pytest.raises(ValueError):  # without a hint: NumPy's error as it was
        answers.call(dense, np.ones((4, 3)), np.ones((3, 5)), np.ones(5))
    with pytest.raises(ValueError):  # a hint may be a function of the error; None re-raises
        answers.call(dense, np.ones((4, 3)), np.ones((3, 5)), np.ones(5), hint=lambda err: None)



def test_a_python_integer_too_big_for_the_dtype_is_named_by_the_hint():
    # ch06: a learner views float32 bits as the SIGNED np.int32, then masks with 0xFFFF0000, which NumPy 2
    # refuses with OverflowError ("Python integer 4294901760 out of bounds for int32")
    bf16 = learner("def round_to_bfloat16(x):\n    return (x.view(np.int32) + 0x7FFF) & 0xFFFF0000")
    with pytest.raises(AssertionError, match=r"^round_to_bfloat16 raised OverflowError\. Likely cause: view as np\.uint32"):
        answers.call(bf16, np.ones(2, np.float32), hint="view as np.uint32")
    with pytest.raises(OverflowError):  # without a hint: NumPy's error as it was
        answers.call(bf16, np.ones(2, np.float32))
    with pytest.raises(OverflowError, match="math range"):  # another OverflowError is not a dtype's range: as it was
        answers.call(learner("def f(x):\n    import math\n    return math.exp(x)"), 1000.0, hint="view as np.uint32")

def test_overflow_is_named_in_the_learner_s_kernel_and_from_printed_warnings():
    sigmoid = learner("def sigmoid(z):\n    return 1 / (1 + np.exp(-z))")
    with pytest.raises(AssertionError, match="^sigmoid overflows"):
        answers.call(sigmoid, np.array([-1000.0]), floats="overflows")

    def proxy(z):  # the grader's proxy prints the student kernel's stderr, warnings included
        print("<string>:2: RuntimeWarning: overflow encountered in exp")
        return np.zeros(1)
    proxy.__name__ = "sigmoid"
    with pytest.raises(AssertionError, match=r"sigmoid overflows \(NumPy warned: overflow encountered in exp\)"):
        answers.call(proxy, np.array([-1000.0]), floats="overflows")
    assert answers.call(proxy, np.zeros(1)) is not None  # without `floats`, printed warnings are not judged


def test_the_stub_s_not_implemented_error_passes_unchanged():
    stub = learner("def relu(z):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    with pytest.raises(NotImplementedError):
        answers.call(stub, 0, hint="never used", floats="never used")


def test_earlier_failing_leads_with_the_earlier_exercise():
    err = AssertionError("mlp_forward vs Keras: max relative error 1.0")
    assert answers.earlier_failing("mlp_forward", err, relu=lambda: True) == str(err)
    msg = answers.earlier_failing("mlp_forward", err, relu=lambda: False, dense_forward=lambda: 1 / 0)
    assert msg.startswith("`mlp_forward` fails, and your `relu` and `dense_forward` fail their own tests")
    assert str(err) in msg


def test_a_test_loop_over_an_answer_that_uses_tensorflow_says_write_it_in_numpy():
    """answers.drive runs the test's loop under the learner's function's name: call's check of that function's
    code still applies (tf imported in the learner's kernel, so the loop itself would not fail)."""
    relu = learner("def relu(z):\n    return tf.relu_numpy(z)", tf=fake_tf)
    with pytest.raises(answers.NumpyOnly, match="write it in NumPy"):
        answers.drive(lambda f, z: [f(z), f(z + 1)], relu, np.zeros(2))
    steps = answers.drive(lambda f, z: [f(z), f(z + 1)], learner("def relu(z):\n    return np.maximum(z, 0)"), -np.ones(2))
    assert [s.tolist() for s in steps] == [[0.0, 0.0], [0.0, 0.0]]
