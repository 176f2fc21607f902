#!/usr/bin/env python
"""Regress accumulation-area ratios from facies maps against annual mass balances (WGMS-like table).

The same as ``glacier-facies mass-balance``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("mass-balance")

if __name__ == "__main__":
    sys.exit(main())
