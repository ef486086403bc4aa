"""Train chapter 5's GPT on two-digit addition, in NumPy, and write gpt_addition.npz beside the notebook.

It runs the notebook's own code: its setup and answer cells and the cell tagged `model` (the backward pass,
Adam, the data), loaded with dlcourse.notebooks.load_functions. Beside the solution notebook it uses the
solutions; beside a student notebook, the learner's answers (they must be finished).

    python train_ch05.py                 # the shipped weights: seed 0, 3000 steps (about a minute on one core)
    python train_ch05.py --steps 500 --out /tmp/try.npz
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from dlcourse.notebooks import load_functions

HERE = Path(__file__).resolve().parent
SEED, STEPS, BATCH, LR = 0, 3000, 64, 3e-3
EXERCISES = {"embedding_forward": 1, "embedding_backward": 2, "gelu": 3, "causal_lm_loss": 4, "gpt_block": 5,
             "gpt_forward": 6, "next_token_probs": 7, "generate_greedy": 8}


def unfinished(err: NotImplementedError) -> str:
    """What to tell a learner whose notebook still has a stub: which exercise raised."""
    names = [frame.name for frame in traceback.extract_tb(err.__traceback__) if frame.name in EXERCISES]
    which = f"exercise {EXERCISES[names[-1]]} (`{names[-1]}`)" if names else "an exercise"
    return (f"train_ch05.py trains with your answers from ch05_gpt.ipynb, and {which} is not finished yet (it raises "
            "NotImplementedError). Finish exercises 1 to 8 there, save the notebook, and run this script again.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=HERE / "gpt_addition.npz")
    args = parser.parse_args(argv)

    nb = load_functions(HERE / "ch05_gpt.ipynb", tags=("model",))
    sizes = nb.GPT_SIZES
    rng = np.random.default_rng(args.seed)
    params = nb.init_gpt(rng, **sizes)
    state = nb.adam_state(params)
    train_pairs, test_pairs = nb.addition_split()
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        ids = nb.addition_ids(train_pairs[rng.integers(0, len(train_pairs), size=BATCH)])
        loss, grads = nb.gpt_loss_and_grads(params, ids, sizes["num_heads"])
        # the learning rate decays linearly to 10% over the run
        params = nb.adam_step(params, grads, state, LR * (1 - 0.9 * (step - 1) / args.steps))
        if step % 500 == 0 or step == args.steps:
            acc = nb.exact_match(params, test_pairs)
            print(f"step {step:5d}  loss {loss:.4f}  held-out exact match {acc:.1%}  {time.perf_counter() - start:.0f} s",
                  flush=True)
    acc = nb.exact_match(params, test_pairs)
    nb.save_gpt(args.out, params, seed=args.seed, steps=args.steps, batch=BATCH, lr=LR, held_out_accuracy=acc)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): held-out exact match {acc:.1%}")


if __name__ == "__main__":
    with threadpool_limits(1):  # one BLAS thread: on these tiny matrices, more threads only cost time
        try:
            main()
        except NotImplementedError as err:
            sys.exit(unfinished(err))
