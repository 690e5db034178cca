"""Which process of a multi-worker run writes files: the chief, decided as TensorFlow does.

Under ``tf.distribute.MultiWorkerMirroredStrategy`` every worker process runs the same
``fit`` with the same callbacks and records the same statistics (those of the all-reduced
gradient, see :mod:`keras_init_lab.callbacks.capture`). One copy on disk is enough: the
callbacks write event files (and ``GradientHealth`` reports its findings) on the chief only;
the others keep their records in memory and write nothing. Every worker still runs the
capture itself, whose all-reduce is a collective op all of them must join.

The rule is TensorFlow's (``tensorflow/python/distribute/multi_worker_util.py``,
``is_chief``, which sets ``strategy.extended.should_checkpoint`` and
``should_save_summary`` of the multi-worker strategy): the task of type ``"chief"``; in a
cluster without one, the ``"worker"`` of index 0; an ``"evaluator"`` is a chief on its own
(it runs outside the training cluster). A strategy without a cluster resolver (the default
strategy, ``MirroredStrategy``), or whose resolver names no cluster or no task (a
multi-worker strategy started without ``TF_CONFIG`` runs as one local worker), is one
process: its chief. Only public attributes are read (``Strategy.cluster_resolver``, the
resolver's ``cluster_spec()``, ``task_type``, ``task_id``, and Keras's
``model.distribute_strategy``), and no backend is imported: on JAX a model has no
``distribute_strategy`` and is its own chief.

Example:
    >>> strategy = tf.distribute.MultiWorkerMirroredStrategy()   # TF_CONFIG of worker 1
    >>> is_chief(strategy)
    False

Reference:
    TensorFlow tutorial "Multi-worker training with Keras"
    (https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras): the chief
    (worker 0 when there is no chief task) is the worker whose saved model is kept.
"""

from __future__ import annotations

__all__ = ["is_chief", "writes_files"]

#: Task types that are chief of their own process group (``multi_worker_util.is_chief``).
_CHIEF_TASK_TYPES = ("chief", "evaluator")


def is_chief(strategy) -> bool:
    """Whether this process is the chief of ``strategy``'s cluster.

    Formula: ``task_type in ("chief", "evaluator")``, or ``task_type == "worker" and
    task_id == 0`` when the cluster has no ``"chief"`` task; True without a cluster.

    Example:
        >>> is_chief(tf.distribute.get_strategy())   # the default strategy: one process
        True

    Args:
        strategy: a ``tf.distribute.Strategy``, or ``None`` (no strategy: one process).

    Returns:
        True when this process should write the files.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    cluster = resolver.cluster_spec().as_dict()
    task_type = resolver.task_type
    if not cluster or task_type is None:
        return True
    if task_type in _CHIEF_TASK_TYPES:
        return True
    return "chief" not in cluster and task_type == "worker" and int(resolver.task_id or 0) == 0


def writes_files(model) -> bool:
    """Whether a callback attached to ``model`` writes its files here (:func:`is_chief`).

    Example:
        >>> writes_files(model)   # model built under a multi-worker strategy, on worker 1
        False

    Args:
        model: the callback's Keras model, or ``None`` (not attached yet: one process).

    Returns:
        True on the chief of the model's distribution strategy, and without a strategy.
    """
    return is_chief(getattr(model, "distribute_strategy", None))
