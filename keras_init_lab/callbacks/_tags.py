"""The package's TensorBoard names, re-exported from :mod:`keras_init_lab._tags` (see there).

The table lives outside ``callbacks`` so that readers and writers that must not load Keras or
TensorFlow (the TensorBoard plugin, a writer for another backend) import it without this
package's ``__init__``; the callbacks and anything that already imports ``callbacks`` may
import it from here.
"""

from keras_init_lab._tags import (
    ACTIVATION_LAYOUT,
    ACTIVATION_STD,
    DEAD_FRACTION,
    DETAILS,
    EPOCH,
    GRADIENT_LAYOUT,
    GRADIENT_LOG10_NORM,
    GRADIENT_NORM,
    GRADIENT_SCALARS,
    HISTOGRAM_UNIT_BELOW,
    MAX_LINES_PER_CHART,
    SATURATED_FRACTION,
    UPDATE_RATIO,
    UPDATE_RATIO_LOG10,
    WEIGHT_STD,
    HistogramUnits,
    activation_tag,
    gradient_histogram_tag,
    histogram_unit_note,
    layer_groups,
    layer_tag,
    per_layer_layout,
    run_name,
    variable_tag,
    weight_histogram_tag,
)

__all__ = [
    "ACTIVATION_LAYOUT",
    "ACTIVATION_STD",
    "DEAD_FRACTION",
    "DETAILS",
    "EPOCH",
    "HistogramUnits",
    "GRADIENT_LAYOUT",
    "GRADIENT_LOG10_NORM",
    "GRADIENT_NORM",
    "GRADIENT_SCALARS",
    "HISTOGRAM_UNIT_BELOW",
    "MAX_LINES_PER_CHART",
    "SATURATED_FRACTION",
    "UPDATE_RATIO",
    "UPDATE_RATIO_LOG10",
    "WEIGHT_STD",
    "activation_tag",
    "gradient_histogram_tag",
    "histogram_unit_note",
    "layer_groups",
    "layer_tag",
    "per_layer_layout",
    "run_name",
    "variable_tag",
    "weight_histogram_tag",
]
