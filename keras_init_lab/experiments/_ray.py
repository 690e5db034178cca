"""Grid points as Ray core tasks: ``compare(ray=...)`` / ``keras-init-lab compare --ray``.

Why core tasks and not Ray Tune: a sweep here is a fixed list of independent points, each
trained once to the end and measured; nothing is searched, stopped early or scheduled by
results, which is what Tune adds (trials, searchers, schedulers, its own result folders and
checkpoints). One ``@ray.remote`` function per point keeps a single code path for every
backend: the task runs :func:`training.train_point` (the same call as a sequential run, seeded
by the point), returns the ``RunResult``, and this process writes the run file
(``sweep.write_run_file``), prints the progress lines and resumes as for local runs.

Resources: each task asks for ``num_cpus=cpus_per_run`` (default 1) and ``num_gpus=
gpus_per_run`` (default 0), and limits TensorFlow to ``cpus_per_run`` intra-op and inter-op
threads (``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` in the job's runtime
environment, read when TensorFlow starts in a Ray worker), so Ray's CPU count is what TensorFlow
uses. The scaled datasets go to the object store once (``ray.put``).

Storage: the run files are written by this (the driver's) process; the TensorBoard event files
are written by the tasks, wherever they run, to ``log_dir``: on a cluster of several machines
it must be storage every node sees, at the same path. TensorFlow's file API itself accepts
``gs://`` / ``s3://`` paths where its file-system plugins are installed, but ``compare``'s
folders are ``pathlib`` paths (which fold ``gs://b`` into ``gs:/b``): mount the bucket
(gcsfuse, s3fs) or use a network file system.

Example:
    >>> compare(quick=True, runs_dir="logs/c/runs", ray=True)           # doctest: +SKIP

Reference:
    Ray core, "Tasks", https://docs.ray.io/en/latest/ray-core/tasks.html ;
    "Specifying task or actor resource requirements",
    https://docs.ray.io/en/latest/ray-core/scheduling/resources.html
"""

from __future__ import annotations

__all__ = ["INSTALL_HINT", "run_on_ray"]

#: What to install when ``ray`` is missing (the package's optional extra).
INSTALL_HINT = 'pip install "keras-init-lab[ray]" (or pip install ray)'


def _train_task(point, datasets, log_dir, verbose, threads):
    """The body of one Ray task: one grid point, trained as a sequential run trains it."""
    import tensorflow as tf

    try:  # a fresh worker: the runtime environment's variables did it already; this says so
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # a reused worker whose TensorFlow has started: already limited
        pass
    import keras

    from keras_init_lab.experiments.training import train_point

    try:
        return train_point(point, datasets[point.scaling], log_dir=log_dir, verbose=verbose)
    finally:
        keras.backend.clear_session()


def import_ray():
    """``ray``, or an ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"compare(ray=...) needs Ray: {INSTALL_HINT}.") from error
    return ray


def run_on_ray(
    pending,
    datasets,
    folders: dict,
    fit_verbose: int,
    finish,
    address=True,
    cpus_per_run: int = 1,
    gpus_per_run: float = 0,
) -> None:
    """Train ``pending`` as Ray tasks; call ``finish(point, result, running)`` as each ends.

    Args:
        pending: the grid points to train.
        datasets: ``{scaling: Dataset}``, put in the object store once.
        folders: ``{point.id: TensorBoard folder or None}``.
        fit_verbose: Keras's ``fit`` verbosity inside the task.
        finish: called in this process with each finished point and result.
        address: ``True``: the Ray this process already started (``ray.init``), else a
            local one (or the cluster ``RAY_ADDRESS`` names); a string: ``ray.init(address=)``
            (``"auto"``, ``"ray://host:10001"``).
        cpus_per_run, gpus_per_run: each task's resource request.

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
    """
    ray = import_ray()
    started_here = False
    if not ray.is_initialized():
        threads = str(cpus_per_run)
        ray.init(
            address=None if address is True else address,
            include_dashboard=False,
            runtime_env={
                "env_vars": {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}
            },
        )
        started_here = True
    refs = {}
    try:
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)(_train_task)
        data = ray.put(dict(datasets))
        for point in pending:
            ref = task.remote(point, data, folders[point.id], fit_verbose, cpus_per_run)
            refs[ref] = point
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_run))
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                finish(refs[ref], ray.get(ref), running=min(slots, len(waiting)))
    except BaseException:
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - finished or already gone
                pass
        raise
    finally:
        if started_here:
            ray.shutdown()
