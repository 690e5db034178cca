"""Matplotlib figures (Agg backend, no global pyplot state).

Each area keeps its figures in its own module; this package only re-exports them.
"""

from keras_init_lab.plots._common import new_figure, save_figure

__all__ = ["new_figure", "save_figure"]
