"""The course's experiments: variance propagation through depth, the initializer x
activation comparison on one model and one dataset, and lecture 002's summary of pairings
checked against a comparison; with their datasets and model builders. They compute and
return plain data; ``keras_init_lab.report`` writes files (and no module here imports it).

The comparison's modules: ``grid`` (the axes, checked, and one ``GridPoint`` per run with a
stable id), ``training`` (one run: ``train_point`` -> ``RunResult``), ``verdicts`` (what a
run's numbers say), ``settings`` (the presets and the one-value settings), ``sweep`` (the
points run in order, in worker processes or on Ray, one run file per finished run, resumed
from) and ``compare`` (the arguments checked, ``CompareResult``).

Example:
    >>> from keras_init_lab import experiments
    >>> result = experiments.propagate()                      # doctest: +SKIP
    >>> comparison = experiments.compare(quick=True)           # doctest: +SKIP

Note: ``experiments.compare`` is the function, which hides the submodule of the same name as
an attribute; reach the module's other names with
``from keras_init_lab.experiments.compare import verdict, PRESETS``.
"""

from keras_init_lab.experiments.compare import CompareResult, compare
from keras_init_lab.experiments.datasets import (
    Dataset,
    DatasetUnavailableError,
    dataset_names,
    load_dataset,
    load_npz,
    scale_inputs,
)
from keras_init_lab.experiments.grid import GridPoint
from keras_init_lab.experiments.models import build_cnn, build_mlp
from keras_init_lab.experiments.pairings import course_pairings
from keras_init_lab.experiments.propagation import PropagationResult, propagate
from keras_init_lab.experiments.training import RunResult

__all__ = [
    "CompareResult",
    "Dataset",
    "DatasetUnavailableError",
    "GridPoint",
    "PropagationResult",
    "RunResult",
    "build_cnn",
    "build_mlp",
    "compare",
    "course_pairings",
    "dataset_names",
    "load_dataset",
    "load_npz",
    "propagate",
    "scale_inputs",
]
