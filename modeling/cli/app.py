"""The ``glacier-facies`` command: one sub-command per job, one way to report errors.

Each command module holds a docstring (its help), ``add_arguments(parser)`` and ``run(args) -> int``. Errors the
project raises on purpose (:class:`~dataset_builder.errors.GlacierFaciesError`) and the expected OS errors
(missing files, permissions, a full disk) print one line naming the file and exit with status 1; arguments that do
not fit exit with 2. ``--debug`` (or ``GLACIER_FACIES_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import Callable

from dataset_builder.errors import GlacierFaciesError
from modeling.cli import (
    build,
    check_realism,
    convert,
    demo,
    evaluate,
    map_scenes,
    mass_balance,
    prune,
    push,
    submit,
    synthetic,
    train,
)
from modeling.cli.options import UsageError

#: Sub-command name -> the module that implements it.
COMMANDS: dict[str, ModuleType] = {
    "synthetic": synthetic,
    "build": build,
    "prune": prune,
    "train": train,
    "evaluate": evaluate,
    "submit": submit,
    "map": map_scenes,
    "mass-balance": mass_balance,
    "convert": convert,
    "push": push,
    "check-realism": check_realism,
    "demo": demo,
}
DEBUG_VARIABLE = "GLACIER_FACIES_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="glacier-facies", description="Glacier facies benchmark: build, prune, train, evaluate, map, publish."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        doc = module.__doc__ or name
        sub = commands.add_parser(
            name,
            help=doc.strip().splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.add_argument("--debug", action="store_true", help="show the full traceback of an error")
        sub.set_defaults(run=module.run, parser=sub)
    return parser


def describe(error: BaseException) -> str:
    """One line for an error: the file an OS error names and its reason, or the error's own message."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def main(argv: list[str] | None = None) -> int:
    """Run one command (``argv`` default: the process arguments); returns the exit status."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        return int(args.run(args) or 0)
    except UsageError as err:  # reported as argparse reports its own errors
        args.parser.print_usage(sys.stderr)
        print(f"{args.parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except (GlacierFaciesError, OSError, UnicodeError) as err:
        if debug:
            raise
        print(f"error: {describe(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130


def script_main(command: str) -> Callable[[list[str] | None], int]:
    """``main(argv)`` of ``scripts/<job>.py``: the same as ``glacier-facies <command> ARGS``."""

    def run(argv: list[str] | None = None) -> int:
        return main([command, *(sys.argv[1:] if argv is None else argv)])

    run.__doc__ = f"Run ``glacier-facies {command}`` with ``argv``; returns the exit status."
    return run
