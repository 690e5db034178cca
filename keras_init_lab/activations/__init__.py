"""Activation functions with their analytic derivatives and facts, usable in any Keras layer.

The names below are re-exported (``# noqa: F401``); ``__all__`` is derived from the facts table.

Every activation is a plain Keras-serializable function (registered under the package name
``keras_init_lab``), so it works as ``Dense(8, activation=activations.gelu_tanh)``, in
``Conv2D``, in ``keras.layers.Activation``, and a model using it saves to ``.keras`` and loads
in a fresh process after ``import keras_init_lab``. Beside the function, each one carries

* its **derivative**, written out by hand (not autodiff), so a student can plot
  ``sigma'(z)`` and see why ``0.25 ** 20 ~ 9.1e-13`` kills the gradient of a 20-layer sigmoid
  net (lecture 004, other network specifications); the tests check every derivative against
  ``tf.GradientTape``;
* its **facts** (:class:`ActivationSpec`, one row of :func:`describe`'s table): output range,
  mean output and zero-centring, saturation, maximum slope, whether units can die, the
  recommended initializer and the gain it implies, PyTorch's ``calculate_gain`` and the
  second-moment gain ``1/sqrt(E[f(z)^2])``.

Example:
    >>> import keras
    >>> from keras_init_lab import activations
    >>> layer = keras.layers.Dense(4, activation=activations.leaky_relu)   # slope 0.01
    >>> activations.spec("sigmoid").max_slope
    0.25
    >>> activations.get("silu") is activations.swish
    True

**Names as plain strings.** Importing ``keras_init_lab`` adds the package's names that Keras
does **not** define (``"step"``, ``"heaviside"``, ``"gelu_tanh"``, ...; see
:data:`KERAS_STRING_NAMES`) to Keras's table (:func:`register_keras_names`). Names Keras already
defines keep **Keras's** meaning as strings: ``Dense(activation="leaky_relu")`` is Keras's leaky
ReLU with slope **0.2**, ``"gelu"`` is Keras's exact GELU. To get this package's version pass
the function itself (``activation=keras_init_lab.activations.leaky_relu``, slope 0.01) or
resolve the name first (``activation=keras_init_lab.activations.get("leaky_relu")``).

**Other leaky-ReLU slopes.** :func:`leaky_relu` uses the course's 0.01; for any other slope use
:class:`LeakyReLUActivation` (``activation=LeakyReLUActivation(0.2)``), which serializes its
slope with the model. **PReLU** (learnable slope) is a layer: :func:`prelu` returns a
``keras.layers.PReLU`` whose slope starts at 0.01 (Keras's own starts at 0, i.e. as a ReLU).

Layout, each module importing only the ones listed before it (no circles):
``_constants`` (SELU's and GELU's constants, the erfc kernel), ``_numpy`` (float64 NumPy
versions, for Gaussian expectations), ``_derivatives``, ``_functions`` (the functions),
``_facts`` (the one facts table from which names, aliases, families, layer classes and Keras
equivalents are derived), then ``_lookup`` (``get``, ``spec``, ``as_layer``, ``classify``...),
``_table`` (``describe``, ``format_table``) and ``_keras`` (string registration).

Reference:
    Lecture 004, other network specifications (table of activations); lecture 003,
    fundamentals of deep neural networks (perceptron, sigmoid, ReLU, leaky ReLU, softmax);
    lecture 000, weight initialization and activation functions.
"""

from keras_init_lab.activations._constants import SELU_ALPHA, SELU_SCALE  # noqa: F401
from keras_init_lab.activations._derivatives import softmax_jacobian  # noqa: F401
from keras_init_lab.activations._facts import FACTS, ActivationSpec  # noqa: F401
from keras_init_lab.activations._functions import (  # noqa: F401
    LeakyReLUActivation,
    elu,
    gelu,
    gelu_tanh,
    leaky_relu,
    linear,
    prelu,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    step,
    swish,
    tanh,
)
from keras_init_lab.activations._keras import KERAS_STRING_NAMES, register_keras_names  # noqa: F401
from keras_init_lab.activations._lookup import aliases, as_layer, get, names, spec  # noqa: F401
from keras_init_lab.activations._table import (  # noqa: F401
    FactsTable,
    describe,
    format_legend,
    format_table,
)

#: The public API: the facts table's function names (and ``silu``, swish's alias bound to the
#: same object), ``prelu`` (the layer row), then the helpers.
__all__ = sorted(
    {
        *(row.name for row in FACTS if row.kind == "function"),
        *(alias for row in FACTS for alias in row.aliases if alias in globals()),
        *(row.name for row in FACTS if row.kind == "layer"),
        "ActivationSpec",
        "FACTS",
        "FactsTable",
        "KERAS_STRING_NAMES",
        "LeakyReLUActivation",
        "SELU_ALPHA",
        "SELU_SCALE",
        "aliases",
        "as_layer",
        "describe",
        "format_legend",
        "format_table",
        "get",
        "names",
        "register_keras_names",
        "softmax_jacobian",
        "spec",
    }
)
