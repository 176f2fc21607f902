#!/usr/bin/env python
"""Push a built dataset folder or a model folder to a Hugging Face hub repository.

The same as ``glacier-facies push``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("push")

if __name__ == "__main__":
    sys.exit(main())
