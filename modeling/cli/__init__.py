"""The command line: ``glacier-facies COMMAND ...`` (installed), and ``scripts/*.py`` as thin wrappers of it."""

from modeling.cli.app import COMMANDS, main, script_main

__all__ = ["COMMANDS", "main", "script_main"]
