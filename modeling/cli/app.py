"""The ``glacier-facies`` command: one sub-command per job, one way to report errors.

Each command module holds a docstring (its help), ``add_arguments(parser)`` and ``run(args) -> int``. Errors the
project raises on purpose (:class:`~dataset_builder.errors.GlacierFaciesError`) and the expected OS errors
(missing files, permissions, a full disk) print one line naming the file and exit with status 1; arguments that do
not fit (and arguments that are not valid UTF-8) exit with 2. ``--debug`` (or ``GLACIER_FACIES_DEBUG=1``) shows the
traceback instead. The errors of the libraries that read files or reach the hub that are expected of bad input
or no network (:data:`LIBRARY_ERRORS`) print one line too; where the library does not say which file, the line
says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from types import ModuleType
from typing import Callable

from huggingface_hub.errors import HTTPError as HubClientError  # the hub's HTTP client's base error
from safetensors import SafetensorError

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
    published,
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
    "published": published,
    "push": push,
    "check-realism": check_realism,
    "demo": demo,
}
DEBUG_VARIABLE = "GLACIER_FACIES_DEBUG"
#: Errors of libraries expected of bad input files or no network, reported in one line like our own.
LIBRARY_ERRORS = (HubClientError, SafetensorError, json.JSONDecodeError, RecursionError)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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


def one_line(text: str) -> str:
    """``text`` as one printable line: the undecodable bytes of a file name as ``\\xNN``, line breaks and other
    control characters as escapes."""
    try:
        data = text.encode("utf-8", "surrogateescape")  # a name os.fsdecode made of undecodable bytes
    except UnicodeEncodeError:
        data = text.encode("utf-8", "backslashreplace")
    text = data.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _undecodable(text: str) -> bool:
    """Whether ``text`` holds undecodable bytes of a file name (``os.fsdecode`` made them U+DC80-U+DCFF)."""
    return any("\udc80" <= c <= "\udcff" for c in text)


def describe(error: BaseException) -> str:
    """One line for an error: the file an OS error names and its reason, the URL the hub client failed to reach,
    the text around a file name that could not be encoded, or the error's own message (of a library's error: with
    its type, and a hint where the library does not name the file)."""
    if isinstance(error, OSError) and error.filename is not None:
        return one_line(f"{error.filename}: {error.strerror or error}")
    if isinstance(error, UnicodeEncodeError) and _undecodable(error.object[error.start : error.end]):
        around = error.object[max(error.start - 100, 0) : error.end + 100]
        return one_line(f"{around}: not valid {error.encoding} ({error.reason}); file names must be UTF-8")
    if isinstance(error, HubClientError) and not isinstance(error, OSError):  # no connection, a timeout
        try:
            return one_line(f"{error.request.url}: {str(error) or type(error).__name__}")
        except RuntimeError:  # an error raised before its request was made
            pass
    if isinstance(error, LIBRARY_ERRORS) and not isinstance(error, OSError):
        return one_line(f"{type(error).__name__}: {error} (the file is not named: --debug shows where)")
    return one_line(str(error))


def _check_utf8(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Stop (status 2) at an argument that is not valid UTF-8, e.g. a file name of undecodable bytes: the
    libraries that read and write our files (GDAL, Arrow, the hub) need UTF-8 names."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            parser.error(f"argument '{one_line(arg)}' is not valid UTF-8; file names must be UTF-8")


def main(argv: list[str] | None = None) -> int:
    """Run one command (``argv`` default: the process arguments); returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    _check_utf8(parser, argv)
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        return int(args.run(args) or 0)
    except UsageError as err:  # reported as argparse reports its own errors
        args.parser.print_usage(sys.stderr)
        print(f"{args.parser.prog}: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except (GlacierFaciesError, OSError, UnicodeError, *LIBRARY_ERRORS) as err:
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
