"""Measured lessons for the rest of the course: each module computes and returns plain data.

One module per topic of lecture 003 (fundamentals of deep neural networks) and lecture 004
(other network specifications), and one on lecture 002's dead units; nothing here prints. The
examples ``examples/09_*.py`` to ``examples/15_*.py`` print these results.

* :mod:`~keras_init_lab.lessons.gradient_descent`: learning rate on ``x^2``, non-convex starts,
  the chain rule by hand against ``tf.GradientTape``, batch vs mini-batch vs stochastic noise.
* :mod:`~keras_init_lab.lessons.optimizers`: SGD, momentum, RMSProp, Adam, AdamW; loss curves
  and the update-to-weight ratio.
* :mod:`~keras_init_lab.lessons.output_activation`: softmax on binary and multi-label tasks
  shown wrong by a run.
* :mod:`~keras_init_lab.lessons.regularization`: L2 penalty vs decoupled weight decay, dropout.
* :mod:`~keras_init_lab.lessons.normalization`: BatchNormalization computed, through depth,
  LayerNorm/GroupNorm.
* :mod:`~keras_init_lab.lessons.scaling`: z-score, min-max, /255; the scaler saved with the
  model; raw vs scaled inputs.
* :mod:`~keras_init_lab.lessons.dead_units`: dead ReLU units at He and Glorot scale (the same
  units), through depth, and what changes them (biases, leaky slope, BatchNorm).
"""

__all__ = [
    "dead_units",
    "gradient_descent",
    "normalization",
    "optimizers",
    "output_activation",
    "regularization",
    "scaling",
]
