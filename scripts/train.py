#!/usr/bin/env python
"""Train on a built glacier facies dataset with the published cross-validation protocol.

The same as ``glacier-facies train``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("train")

if __name__ == "__main__":
    sys.exit(main())
