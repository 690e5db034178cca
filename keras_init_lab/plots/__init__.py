"""Matplotlib figures (Agg backend, no global pyplot state).

Each area keeps its figures in its own module; this package only re-exports them.
"""

from keras_init_lab.plots._common import new_figure, save_figure
from keras_init_lab.plots.activation_stats import plot_activation_stats
from keras_init_lab.plots.activations import plot_activations
from keras_init_lab.plots.experiments import (
    plot_gradient_heatmap,
    plot_loss_curves,
    plot_propagation,
    plot_unit_fractions,
)
from keras_init_lab.plots.losses import plot_logit_gradients
from keras_init_lab.plots.training import plot_gradient_flow

__all__ = [
    "new_figure",
    "plot_activation_stats",
    "plot_activations",
    "plot_gradient_flow",
    "plot_gradient_heatmap",
    "plot_logit_gradients",
    "plot_loss_curves",
    "plot_propagation",
    "plot_unit_fractions",
    "save_figure",
]
