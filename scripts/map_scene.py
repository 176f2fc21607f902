#!/usr/bin/env python
"""Map glacier facies on whole scenes: dense inference with FaciesCNN, many scenes on a Dask cluster.

The same as ``glacier-facies map``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("map")

if __name__ == "__main__":
    sys.exit(main())
