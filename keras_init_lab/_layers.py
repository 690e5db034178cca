"""Layer families that several modules recognise by class (diagnostics, LSUV)."""

import keras

__all__ = ["KERNEL_LAYERS", "TRANSPOSED_CONV_LAYERS", "walk_layers"]

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
