"""The package's TensorBoard names, re-exported from :mod:`keras_init_lab._tags` (see there).

The table lives outside ``callbacks`` so that readers and writers that must not load Keras or
TensorFlow (the TensorBoard plugin, a writer for another backend) import it without this
package's ``__init__``; the callbacks and anything that already imports ``callbacks`` may
import it from here.
"""

from keras_init_lab._tags import *  # noqa: F403  (the same names, see the docstring)
from keras_init_lab._tags import __all__  # noqa: F401
