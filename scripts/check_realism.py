#!/usr/bin/env python
"""Check how real a built dataset looks to the published models.

The same as ``glacier-facies check-realism``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("check-realism")

if __name__ == "__main__":
    sys.exit(main())
