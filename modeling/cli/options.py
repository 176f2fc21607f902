"""Argument types shared by the commands: bounded numbers, comma lists, and the usage error.

Every numeric option a stranger can hand us is bounded here, so ``--rows-per-shard 0`` or ``--epochs -1``
stop at argument parsing with a usage message instead of spinning or failing deep inside a job.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

from dataset_builder.errors import GlacierFaciesError


class UsageError(GlacierFaciesError):
    """Arguments that do not fit together; reported like argparse's own errors (exit status 2)."""


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]`` (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be in {left}{low}, {high}], got {text}")
        return value

    parse.__name__ = "number"
    return parse


def comma_list(text: str) -> tuple[str, ...]:
    """An argparse type: ``a,b, c`` -> ``("a", "b", "c")`` (empty items dropped)."""
    return tuple(item.strip() for item in text.split(",") if item.strip())
