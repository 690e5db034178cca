"""Layer families that several modules recognise by class, and the one layer walker.

Used by the diagnostics, LSUV, the callbacks' unit finder and the experiments.
"""

import keras

__all__ = ["KERNEL_LAYERS", "TRANSPOSED_CONV_LAYERS", "kernel_layers", "walk_layers"]

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


def walk_layers(model) -> list:
    """Every layer of ``model``, nested models expanded in place, in forward order.

    The listing order of Sequential and Functional models is topological, so each layer
    comes after the layers it reads from; a nested model (or any layer with sub-``layers``)
    is replaced by its own layers, recursively. A subclassed model lists its layers in the
    order they were assigned.

    Example:
        >>> inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="b")])
        >>> outer = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="a"), inner])
        >>> [layer.name for layer in walk_layers(outer)]
        ['a', 'b']

    Args:
        model: a Keras model or layer.

    Returns:
        A list of leaf layers (no models among them).
    """
    found = []
    for layer in getattr(model, "layers", None) or []:
        if isinstance(layer, keras.Model) or getattr(layer, "layers", None):
            found.extend(walk_layers(layer))
        else:
            found.append(layer)
    return found


def kernel_layers(model) -> list:
    """The layers of ``model`` that hold a ``kernel``, nested models expanded, in forward order.

    Every leaf layer from :func:`walk_layers` whose ``kernel`` attribute is set: fully
    connected and convolution layers, not BatchNormalization (``gamma``/``beta``), pooling or
    activation layers. These are the layers an initializer fills and whose gradients the
    experiments compare first layer against last.

    Example:
        >>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="a"),
        ...                         keras.layers.BatchNormalization(name="bn"),
        ...                         keras.layers.Dense(1, name="b")])
        >>> [layer.name for layer in kernel_layers(net)]
        ['a', 'b']

    Args:
        model: a Keras model or layer.

    Returns:
        A list of leaf layers, first layer first.
    """
    return [layer for layer in walk_layers(model) if getattr(layer, "kernel", None) is not None]
