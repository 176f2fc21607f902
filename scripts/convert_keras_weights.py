#!/usr/bin/env python
"""Convert the authors' Keras HDF5 weights to FaciesCNN ``from_pretrained`` folders (h5py only, no TensorFlow).

The same as ``glacier-facies convert``: see ``--help`` and :mod:`modeling.cli`.
"""

import sys

from modeling.cli import script_main

main = script_main("convert")

if __name__ == "__main__":
    sys.exit(main())
