#!/usr/bin/env python
"""The main job: the end-to-end demo on the embedded synthetic default data.

The same as ``glacier-facies demo``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("demo")

if __name__ == "__main__":
    sys.exit(main())
