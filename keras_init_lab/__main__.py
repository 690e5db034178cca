"""``python -m keras_init_lab``: the same command line as ``keras-init-lab``.

Example:
    python -m keras_init_lab --help
"""

import sys

from keras_init_lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
