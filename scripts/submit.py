#!/usr/bin/env python
"""Score a benchmark submission and add it to the dataset's leaderboard.

The same as ``glacier-facies submit``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("submit")

if __name__ == "__main__":
    sys.exit(main())
