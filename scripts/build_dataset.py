#!/usr/bin/env python
"""Build the glacier facies Hugging Face dataset folder from a raw source.

The same as ``glacier-facies build``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("build")

if __name__ == "__main__":
    sys.exit(main())
