"""Layer families that several modules recognise by class (diagnostics, LSUV)."""

import keras

#: Layers with a ``kernel`` that an initializer fills and whose output is a weighted sum of
#: their inputs: fully connected and (transposed) convolutions, the "convolution and
#: inner-product layers" of Mishkin & Matas's Algorithm 1 and the layers ``check_model`` reads.
KERNEL_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)

#: Transposed convolutions store their kernel as ``(*kernel, out, in)``.
TRANSPOSED_CONV_LAYERS = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
