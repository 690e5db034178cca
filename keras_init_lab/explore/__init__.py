"""The explorable page: move depth, width, weight variance, activation and bias, watch the
signal vanish or explode, next to the mean-field prediction and a sampled network.

``keras-init-lab explore [--out FILE] [--serve]`` writes (and serves) one offline HTML file.
The mean field comes from the package's own Gaussian expectations, embedded as small tables
(:mod:`.data`); the page runs the recursion and a seeded Monte-Carlo network for any slider
setting; verdict words and colours are those of ``propagate`` and the report.

Example:
    >>> from keras_init_lab.explore import write_page
    >>> write_page("explore.html")                               # doctest: +SKIP
"""

from keras_init_lab.explore.data import explore_data
from keras_init_lab.explore.page import build_page, make_server, serve, write_page

__all__ = ["build_page", "explore_data", "make_server", "serve", "write_page"]
