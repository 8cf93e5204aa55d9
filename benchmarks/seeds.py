"""``--seeds 0,1,2``: the one parser of a seed list that the benchmarks share (``bench_detection.py``,
``bench_synthetic.py``). A figure measured with one seed moves with the seed; these benchmarks train with
each seed of the list and print the mean over them."""
from __future__ import annotations

import argparse


def seed_list(text: str) -> list[int]:
    """``--seeds`` as a list: ``"0,1,2"`` -> ``[0, 1, 2]``; anything else is an argparse error that says the form."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 0,1,2; got {text!r}") from None
