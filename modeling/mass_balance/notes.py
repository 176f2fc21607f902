"""Input that the mass-balance chain leaves out: reported as :class:`MassBalanceWarning`, the rest is used."""

from __future__ import annotations

import warnings


class MassBalanceWarning(UserWarning):
    """A part of the input that is left out (the rest is used)."""


def warn(message: str) -> None:
    """Emit ``message`` as a :class:`MassBalanceWarning` attributed to the caller of the function calling this."""
    warnings.warn(message, MassBalanceWarning, stacklevel=3)
