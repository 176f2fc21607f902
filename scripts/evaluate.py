#!/usr/bin/env python
"""Evaluate a model folder or a predictions file against a built dataset's pruned and full labels.

The same as ``glacier-facies evaluate``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("evaluate")

if __name__ == "__main__":
    sys.exit(main())
