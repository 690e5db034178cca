"""The "gradient flow" TensorBoard plugin: the profile over depth, step by step.

Installed with the package (the ``tensorboard_plugins`` entry point in ``setup.cfg``):
``tensorboard --logdir logs`` shows a "gradient flow" tab whenever a run holds the per-layer
scalars of :class:`keras_init_lab.callbacks.GradientStats` or
:class:`keras_init_lab.callbacks.ActivationStats`. The tab draws, for the selected runs, one
per-layer statistic against the layer index (input to output) at the step chosen with a slider.

Example:
    >>> # after model.fit(..., callbacks=[GradientStats(log_dir="logs/run1")]):
    >>> # tensorboard --logdir logs      then open the "gradient flow" tab

Layout: :mod:`.profiles` (statistics, layer order, profiles: pure logic), :mod:`.plugin`
(the TensorBoard plugin and its routes), ``static/`` (the ES-module frontend).
"""

from keras_init_lab.tensorboard_plugin.plugin import PLUGIN_NAME, GradientFlowPlugin
from keras_init_lab.tensorboard_plugin.profiles import STATISTICS, Statistic

__all__ = ["PLUGIN_NAME", "STATISTICS", "GradientFlowPlugin", "Statistic"]
