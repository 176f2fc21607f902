#!/usr/bin/env python
"""Generate the synthetic glacier facies benchmark and print its summary.

The same as ``glacier-facies synthetic``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("synthetic")

if __name__ == "__main__":
    sys.exit(main())
