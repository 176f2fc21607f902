#!/usr/bin/env python
"""Prune label issues from a built dataset with confident learning (cleanlab).

The same as ``glacier-facies prune``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("prune")

if __name__ == "__main__":
    sys.exit(main())
