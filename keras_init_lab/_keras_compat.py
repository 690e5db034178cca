"""Every private Keras attribute and every run-time patch the package uses, in one place.

Keras 3 has no public API for a few things this package needs: building a second train
function the way ``fit`` builds its own, reading the graph of a functional model, telling a
cross-entropy loss the logits behind a sigmoid/softmax output, and registering activation
*strings*. Each of them is reached here and nowhere else, through a small function with a
fallback or with an error that names the Keras version and what to do. :data:`INTERNALS`
lists them all; ``tests/test_keras_compat.py`` checks each one against the installed Keras
and fails with its name when one has moved.

Run-time patches go through named helpers here: the optimizer's ``apply`` and a layer's
``call`` or ``activation`` through :func:`patched`, a context manager that always restores the
original, also when the body raises; the model's ``train_function`` for the length of a
``fit`` through :func:`install_train_function` / :func:`restore_train_function`; a helper
object kept on the model through :func:`set_untracked_attribute`.

Example:
    >>> from keras_init_lab import _keras_compat
    >>> sorted(_keras_compat.missing_internals())
    []
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras

__all__ = [
    "INTERNALS",
    "NEWEST_TESTED_KERAS",
    "OLDEST_TESTED_KERAS",
    "KerasInternalError",
    "activation_registry",
    "inbound_nodes",
    "default_summary_writer",
    "JAX_ASYNC_KERAS",
    "jax_fit_syncs_every_step",
    "make_jax_train_function",
    "fit_history",
    "fit_params",
    "install_train_function",
    "keras_version",
    "make_train_function",
    "missing_internals",
    "nodes_by_depth",
    "op_determinism",
    "op_determinism_enabled",
    "optimizer_variables",
    "outbound_nodes",
    "patched",
    "restore_train_function",
    "set_logits",
    "set_untracked_attribute",
    "track_optimizer_variable",
    "untrack_optimizer_variable",
    "untracked_attribute",
    "warn_if_moved",
]

#: The oldest and newest Keras releases CI runs the fast test suite on (``.ci/run``).
OLDEST_TESTED_KERAS = (3, 3)
NEWEST_TESTED_KERAS = (3, 15)

_MISSING = object()


class KerasInternalError(RuntimeError):
    """A private Keras attribute this package needs is not there in the installed Keras."""


def keras_version() -> tuple[int, int]:
    """``(major, minor)`` of the installed Keras, e.g. ``(3, 15)``."""
    parts = []
    for piece in keras.__version__.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (2 - len(parts)))  # type: ignore[return-value]


def _error(internal: str, what_for: str) -> KerasInternalError:
    low = ".".join(map(str, OLDEST_TESTED_KERAS))
    high = ".".join(map(str, NEWEST_TESTED_KERAS))
    return KerasInternalError(
        f"keras-init-lab needs the Keras internal {internal!r} ({what_for}), which Keras "
        f"{keras.__version__} does not have. The package is tested with Keras {low} to {high}: "
        f"install a Keras in that range (pip install 'keras>={low},<={high}.99') or report the "
        "Keras version in an issue."
    )


# ------------------------------------------------------------------------- train function


def make_train_function(model) -> Callable:
    """A new train function built exactly as ``fit`` builds ``model.train_function``.

    Uses only public API: ``model.make_train_function(force=True)`` builds a fresh function
    with the model's ``jit_compile``, ``steps_per_execution`` and ``tf.distribute`` settings
    and stores it in ``model.train_function``; the function is taken and the attribute put
    back as it was (also if building raises). A second function built this way can be traced
    with a patched optimizer without touching the model's own. Keras 3.3-3.5 build it inline,
    later releases through the private ``_make_function``; this path works on both.

    Example:
        >>> train = make_train_function(model)  # doctest: +SKIP
        >>> logs = train(iter(dataset))  # doctest: +SKIP

    Args:
        model: a compiled ``keras.Model`` on the TensorFlow backend.

    Returns:
        The train function (called with a dataset iterator, as ``fit`` calls it).

    Raises:
        KerasInternalError: if ``make_train_function`` left no new function behind.
    """
    if not callable(getattr(model, "make_train_function", None)):
        raise _error("Model.make_train_function", "a second, instrumented train function")
    had_own = "train_function" in vars(model)
    previous = getattr(model, "train_function", None)
    try:
        model.make_train_function(force=True)
        function = model.train_function
    finally:
        if had_own:
            model.train_function = previous
        elif "train_function" in vars(model):
            del model.train_function
    if function is None or function is previous:
        raise _error("Model.make_train_function(force=True)", "a second train function")
    return function


def install_train_function(model, function: Callable) -> Callable:
    """Make ``fit`` call ``function`` at every step instead of the model's own train function.

    Why it works: the TensorFlow trainer's ``fit`` calls ``self.make_train_function()`` (which
    keeps an existing ``self.train_function`` unless ``force=True``) *before*
    ``callbacks.on_train_begin()``, and then ``self.train_function(iterator)`` afresh at every
    step; so a function installed from ``on_train_begin`` runs every step of that ``fit``.
    Checked on Keras 3.3.3 and 3.15.1 (``keras/src/backend/tensorflow/trainer.py``,
    ``fit``); the PyTorch trainer's ``fit`` does the same, calling
    ``self.train_function(data)`` at every step (``keras/src/backend/torch/trainer.py``,
    Keras 3.3.3 and 3.15.1). If the model has no train function yet, its own is built first
    (``model.make_train_function()``), so there is always one to return and restore.

    Example:
        >>> original = install_train_function(model, selector)  # doctest: +SKIP
        >>> restore_train_function(model, selector, original)  # doctest: +SKIP
        True

    Args:
        model: a compiled ``keras.Model`` on the TensorFlow backend.
        function: called as ``function(iterator)`` in place of the model's train function.

    Returns:
        The model's own train function, to hand to :func:`restore_train_function`.
    """
    if getattr(model, "train_function", None) is None:
        model.make_train_function()
    original = model.train_function
    model.train_function = function
    return original


def restore_train_function(model, installed: Callable, original: Callable) -> bool:
    """Put ``original`` back as ``model.train_function`` if the model still runs ``installed``.

    Compared with ``==``, so a bound method installed by :func:`install_train_function` is
    recognised (each attribute access makes a new bound-method object). A model whose train
    function was replaced since (``compile`` resets it to ``None``; ``fit`` then builds a new
    one) is left alone. Checked on Keras 3.3.3 and 3.15.1, as :func:`install_train_function`.

    Returns:
        True when it restored ``original``.
    """
    if getattr(model, "train_function", None) == installed:
        model.train_function = original
        return True
    return False


def set_untracked_attribute(target, name: str, value) -> None:
    """Set ``target.name = value`` without Keras's attribute tracking.

    ``Layer.__setattr__`` (so every ``keras.Model``) passes each value through the layer's
    ``Tracker`` (variables, layers, metrics ...) and, on TensorFlow, through ``AutoTrackable``
    (what a SavedModel serializes). A helper object that holds TensorFlow variables and
    functions (the gradient capture) must be neither tracked nor saved with the model:
    ``object.__setattr__`` bypasses both. Checked on Keras 3.3.3 and 3.15.1
    (``keras/src/layers/layer.py``, ``Layer.__setattr__``).

    Example:
        >>> set_untracked_attribute(model, "_kil_helper", helper)  # doctest: +SKIP
        >>> untracked_attribute(model, "_kil_helper") is helper  # doctest: +SKIP
        True
    """
    object.__setattr__(target, name, value)


def untracked_attribute(target, name: str, default=None):
    """The value :func:`set_untracked_attribute` stored on ``target`` itself, or ``default``.

    Reads the instance's own ``__dict__`` only (never a class attribute or a tracked
    wrapper), as it was set.
    """
    return vars(target).get(name, default)


def fit_params(callback):
    """The ``params`` dict of the ``fit`` that ``callback`` takes part in (one per ``fit``).

    ``fit`` builds one ``CallbackList`` with its ``params`` (epochs, steps, verbose) and hands
    that same dict object to every callback (``Callback.set_params``), the ``History`` callback
    included; so ``fit_params(a) is fit_params(b)`` tells that two callbacks are in one
    ``fit``. Checked on Keras 3.3.3 and 3.15.1 (``keras/src/callbacks/callback_list.py``).
    """
    return getattr(callback, "params", None)


def fit_history(model):
    """``model.history``: the ``History`` callback of the running (or the last) ``fit``.

    When it is set differs by version: Keras 3.15.1's ``CallbackList`` sets it when ``fit``
    builds the list, before ``on_train_begin``; Keras 3.3.3's ``History.on_epoch_end`` sets it
    only at the end of each epoch, so during a ``fit``'s first epoch it is still the previous
    ``fit``'s (or absent: ``None``). Callers identify a ``fit`` by the history's
    :func:`fit_params` together with the value seen at its start.
    """
    return getattr(model, "history", None)


def optimizer_variables(optimizer) -> list:
    """The variables ``optimizer.apply(grads)`` updates when called without variables.

    ``apply_gradients`` always passes them; a bare ``apply(grads)`` falls back on the
    optimizer's private ``_trainable_variables`` (the list it was built with).
    """
    found = getattr(optimizer, "_trainable_variables", _MISSING)
    if found is _MISSING:
        raise _error("Optimizer._trainable_variables", "the variables of apply(grads)")
    return list(found)


# ------------------------------------------------------------------------- JAX train step

#: First Keras release whose ``CallbackList`` dispatches batch-end callbacks asynchronously
#: (``_configure_async_dispatch``, Keras 3.6): on Keras 3.3-3.5 the JAX ``fit`` loop turns
#: each step's logs into Python numbers, a device-to-host synchronization at every step.
JAX_ASYNC_KERAS = (3, 6)


def jax_fit_syncs_every_step() -> bool:
    """True on Keras releases (3.3-3.5) whose JAX ``fit`` synchronizes the host every step.

    There, reading the capture buffer only on recorded steps saves nothing: every step waits
    for the device anyway (see :data:`JAX_ASYNC_KERAS`).
    """
    return keras_version() < JAX_ASYNC_KERAS


def make_jax_train_function(model, train_step: Callable) -> Callable:
    """A train function built by ``fit``'s own builder around ``train_step`` (JAX backend).

    The JAX trainer's ``make_train_function`` jit-compiles ``self.train_step`` (with the
    model's ``jit_compile``, ``steps_per_execution`` and the ``out_shardings`` of a
    ``keras.distribution``); ``train_step(state, data) -> (logs, state)`` is set as the
    model's instance attribute ``train_step`` while :func:`make_train_function` builds, and
    removed afterwards, so the new function jit-compiles ``train_step`` itself: a function
    of its own, which JAX traces apart from the model's (a patch applied inside it is never
    hidden by a trace cached for the model's own step). Checked on Keras 3.15.1
    (``keras/src/backend/jax/trainer.py``, ``make_train_function``; NNX models jit
    ``type(self).train_step`` instead and are refused).

    Example:
        >>> def step(state, data):  # doctest: +SKIP
        ...     return type(model).train_step(model, state, data)
        >>> train = make_jax_train_function(model, step)  # doctest: +SKIP

    Args:
        model: a compiled ``keras.Model`` on the JAX backend.
        train_step: called as ``train_step(state, data)``, returns ``(logs, state)``.

    Returns:
        The train function, called as ``function(state, iterator)`` as ``fit`` calls it.

    Raises:
        NotImplementedError: Keras's NNX integration is on (``keras.config.is_nnx_enabled``).
    """
    is_nnx = getattr(getattr(keras, "config", None), "is_nnx_enabled", None)
    if callable(is_nnx) and is_nnx():
        raise NotImplementedError(
            f"The gradient capture cannot instrument the JAX train step with NNX enabled "
            f"(Keras {keras.__version__} jit-compiles the class's train_step then); turn NNX "
            "off (KERAS_NNX_ENABLED=false) to capture gradients on JAX."
        )
    with patched(model, "train_step", train_step):
        return make_train_function(model)


def track_optimizer_variable(optimizer, variable) -> None:
    """Append ``variable`` to ``optimizer.variables`` (the JAX step's optimizer state).

    The JAX trainer passes ``[v.value for v in optimizer.variables]`` into the jitted step and
    ``stateless_apply`` returns the value of each after ``apply``; a variable assigned inside
    ``apply`` therefore leaves the compiled step as an output. There is no public way to add
    one to a built optimizer: ``add_variable`` also names it under the optimizer and works
    the same, but cannot be undone; this appends through the optimizer's private
    ``_track_variable`` (``keras/src/optimizers/base_optimizer.py``, Keras 3.3.3 and 3.15.1)
    so :func:`untrack_optimizer_variable` can remove it again.
    """
    track = getattr(optimizer, "_track_variable", None)
    if not callable(track) or not isinstance(getattr(optimizer, "_variables", None), list):
        raise _error("Optimizer._track_variable / Optimizer._variables", "the capture buffer")
    track(variable)


def untrack_optimizer_variable(optimizer, variable) -> bool:
    """Remove ``variable`` from ``optimizer.variables`` again (so it is never saved).

    Compared by identity (``==`` on Keras variables is element-wise). Returns True when it
    was there.
    """
    variables = getattr(optimizer, "_variables", None)
    if not isinstance(variables, list):
        raise _error("Optimizer._variables", "removing the capture buffer")
    for index, tracked in enumerate(variables):
        if tracked is variable:
            del variables[index]
            return True
    return False


# ------------------------------------------------------------------------- model graph


def nodes_by_depth(model) -> dict | None:
    """A functional model's ``{depth: [Node]}`` (depth 0 = outputs), or ``None`` if it has none.

    Sequential models and subclassed models without a graph return ``None``; callers then
    use the layer order instead.
    """
    graph = getattr(model, "_functional", model)
    found = getattr(graph, "_nodes_by_depth", None)
    return found if isinstance(found, dict) else None


def inbound_nodes(layer) -> list:
    """The nodes where ``layer`` was called (its inputs), ``[]`` outside a functional graph."""
    return list(getattr(layer, "_inbound_nodes", None) or [])


def outbound_nodes(layer) -> list:
    """The nodes that read ``layer``'s output, ``[]`` outside a functional graph."""
    return list(getattr(layer, "_outbound_nodes", None) or [])


# ------------------------------------------------------------------------- activations


def set_logits(output, logits) -> None:
    """Remember the logits behind a sigmoid/softmax output, as Keras's own functions do.

    Keras's ``sigmoid``/``softmax`` set ``output._keras_logits`` so a cross-entropy loss with
    ``from_logits=False`` can use the logits (numerically stable). Ours do the same; where a
    tensor refuses the attribute (some eager tensors), the loss falls back on the
    probabilities, as with any other activation.
    """
    try:
        output._keras_logits = logits
    except AttributeError:
        pass


def activation_registry() -> dict:
    """Keras's private ``{name: function}`` table behind ``keras.activations.get(str)``.

    ``keras.activations.get`` looks only in this dict, so a custom activation *string*
    (``Dense(activation="gelu_tanh")``) works only once the name is in it. Returns ``{}`` when
    the table has moved: string names of the package's own activations then fail with Keras's
    message, while callables keep working (:func:`warn_if_moved` says so once).
    """
    try:
        module = importlib.import_module("keras.src.activations")
    except ImportError:
        return {}
    table = getattr(module, "ALL_OBJECTS_DICT", None)
    return table if isinstance(table, dict) else {}


# ------------------------------------------------------------------------- patches


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    """Set ``target.name = value`` for the body of a ``with`` block, then restore it.

    Restores the attribute exactly: an instance attribute that shadowed a class attribute is
    put back, one that did not exist is deleted (so ``optimizer.apply`` is again the bound
    class method). Used for ``optimizer.apply`` (one instrumented execution), ``layer.call``
    and ``layer.activation``; the model's ``train_function``, swapped for a whole ``fit``, goes
    through :func:`install_train_function`.

    Example:
        >>> class Box: value = 1
        >>> box = Box()
        >>> with patched(box, "value", 2):
        ...     box.value
        2
        >>> "value" in vars(box), box.value
        (False, 1)
    """
    had_own = name in vars(target)
    previous = vars(target)[name] if had_own else _MISSING
    setattr(target, name, value)
    try:
        yield
    finally:
        if had_own:
            setattr(target, name, previous)
        elif name in vars(target):
            delattr(target, name)


# ------------------------------------------------------------------------- TensorBoard


def _summary_state():
    """TensorFlow's thread-local default-writer state (``summary_ops_v2._summary_state``)."""
    try:
        from tensorflow.python.ops import summary_ops_v2
    except ImportError:  # pragma: no cover - depends on the TensorFlow
        return None
    state = getattr(summary_ops_v2, "_summary_state", None)
    if state is None or not (hasattr(state, "writer") and hasattr(state, "step")):
        return None
    return state


@contextlib.contextmanager
def default_summary_writer(writer, step=None) -> Iterator:
    """``writer.as_default(step)`` without the flush at its exit.

    ``SummaryWriter.as_default()`` flushes the writer when its block exits (TensorFlow 2.x),
    so writing each record under it flushes every record; the package flushes on a time
    basis instead. The private TensorFlow name used here is the thread-local state
    ``as_default`` sets; it is set and restored here. Where it has moved (a future
    TensorFlow), ``as_default`` is used: correct, flushed per record again.

    Example:
        >>> with default_summary_writer(writer, step=3):  # doctest: +SKIP
        ...     tf.summary.scalar("loss", 0.5)

    Args:
        writer: a ``tf.summary`` writer.
        step: the default step for the block, or ``None`` to keep the current one.
    """
    state = _summary_state()
    if state is None:  # pragma: no cover - depends on the TensorFlow
        with writer.as_default(step):
            yield writer
        return
    old_writer, old_step = state.writer, state.step
    state.writer = writer
    if step is not None:
        state.step = step
    try:
        yield writer
    finally:
        state.writer, state.step = old_writer, old_step


# ------------------------------------------------------------------------- op determinism


def _determinism_switches():
    """TensorFlow's ``(is_op_determinism_enabled, disable_op_determinism)``, or ``None``.

    TensorFlow exports only ``tf.config.experimental.enable_op_determinism``; reading the
    state and switching it off again are the two private functions beside it in
    ``tensorflow.python.framework.config`` (TensorFlow 2.9 and later, 2.16-2.21 included).
    """
    try:
        from tensorflow.python.framework import config as tf_config
    except ImportError:  # pragma: no cover - depends on the TensorFlow
        return None
    is_enabled = getattr(tf_config, "is_op_determinism_enabled", None)
    disable = getattr(tf_config, "disable_op_determinism", None)
    if not (callable(is_enabled) and callable(disable)):
        return None  # pragma: no cover - depends on the TensorFlow
    return is_enabled, disable


def op_determinism_enabled() -> bool | None:
    """Whether TensorFlow's op determinism is on; ``None`` where the state cannot be read."""
    switches = _determinism_switches()
    return None if switches is None else bool(switches[0]())


@contextlib.contextmanager
def op_determinism() -> Iterator[None]:
    """Deterministic TensorFlow ops inside the block; the previous state restored after it.

    ``tf.config.experimental.enable_op_determinism()`` makes every op give the same output
    for the same input (reductions in a fixed order, ``tf.data`` in order); there is no public
    way to read or undo it, so the state before the block is read and restored with
    TensorFlow's private ``is_op_determinism_enabled`` / ``disable_op_determinism``, also
    when the block raises. Where those have moved (a future TensorFlow) determinism is
    switched on and stays on, with a warning that says so.

    Example:
        >>> with op_determinism():  # doctest: +SKIP
        ...     model.fit(x, y)

    Reference:
        ``tf.config.experimental.enable_op_determinism``,
        https://www.tensorflow.org/api_docs/python/tf/config/experimental/enable_op_determinism
    """
    import tensorflow as tf

    switches = _determinism_switches()
    was_on = None if switches is None else bool(switches[0]())
    if switches is None:  # pragma: no cover - depends on the TensorFlow
        warnings.warn(
            f"TensorFlow {tf.__version__} has no disable_op_determinism: op determinism is "
            "switched on for the demo and stays on afterwards.",
            RuntimeWarning,
            stacklevel=3,
        )
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if switches is not None and not was_on:
            switches[1]()


# ------------------------------------------------------------------------- self-check


@dataclass(frozen=True)
class Internal:
    """One private Keras attribute: its name, what it is for, and how to see it is there."""

    name: str
    purpose: str
    present: Callable[[], bool]


def _has_make_function() -> bool:
    return callable(getattr(keras.Model, "make_train_function", None))


def _has_optimizer_variables() -> bool:
    optimizer = keras.optimizers.SGD()
    optimizer.build([keras.Variable(0.0)])
    return hasattr(optimizer, "_trainable_variables")


def _has_optimizer_tracking() -> bool:
    optimizer = keras.optimizers.SGD()
    optimizer.build([keras.Variable(0.0)])
    return callable(getattr(optimizer, "_track_variable", None)) and isinstance(
        getattr(optimizer, "_variables", None), list
    )


def _has_functional_graph() -> bool:
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(1)
    model = keras.Model(inputs, layer(inputs))
    return (
        nodes_by_depth(model) is not None
        and hasattr(layer, "_inbound_nodes")
        and hasattr(layer, "_outbound_nodes")
    )


def _has_activation_registry() -> bool:
    return "relu" in activation_registry()


def _has_logits_attribute() -> bool:
    output = keras.activations.sigmoid(keras.ops.convert_to_tensor([[0.0]]))
    return hasattr(output, "_keras_logits") or keras_version() < (3, 4)


#: Every private Keras (and the two TensorFlow) attributes the package reads, with a check.
INTERNALS: tuple[Internal, ...] = (
    Internal(
        "Model.make_train_function(force=True)",
        "instrumented train function",
        _has_make_function,
    ),
    Internal(
        "Optimizer._trainable_variables", "variables of apply(grads)", _has_optimizer_variables
    ),
    Internal(
        "Optimizer._track_variable / Optimizer._variables",
        "capture buffer carried out of the JAX train step",
        _has_optimizer_tracking,
    ),
    Internal(
        "Functional._nodes_by_depth / Layer._inbound_nodes / Layer._outbound_nodes",
        "graph walk of functional models",
        _has_functional_graph,
    ),
    Internal(
        "keras.src.activations.ALL_OBJECTS_DICT", "activation strings", _has_activation_registry
    ),
    Internal(
        "KerasTensor._keras_logits",
        "stable cross-entropy after sigmoid/softmax",
        _has_logits_attribute,
    ),
    Internal(
        "tensorflow summary_ops_v2._summary_state",
        "TensorBoard writes without a flush per record",
        lambda: _summary_state() is not None,
    ),
    Internal(
        "tensorflow config.is_op_determinism_enabled / disable_op_determinism",
        "op determinism restored after the demo",
        lambda: _determinism_switches() is not None,
    ),
)


def missing_internals() -> list[str]:
    """Names of the :data:`INTERNALS` that the installed Keras does not have."""
    missing = []
    for internal in INTERNALS:
        try:
            ok = internal.present()
        except Exception:  # noqa: BLE001 - any failure of the probe means "moved"
            ok = False
        if not ok:
            missing.append(internal.name)
    return missing


_warned = False


def warn_if_moved() -> None:
    """Warn once if Keras is newer than the newest tested release *and* an internal moved.

    A newer Keras with every internal in place is silent: nothing the package needs changed.
    """
    global _warned
    if _warned or keras_version() <= NEWEST_TESTED_KERAS:
        return
    missing = missing_internals()
    if missing:
        _warned = True
        high = ".".join(map(str, NEWEST_TESTED_KERAS))
        warnings.warn(
            f"keras-init-lab is tested up to Keras {high}; Keras {keras.__version__} has moved "
            f"{', '.join(missing)}. The features that use them raise a KerasInternalError; "
            f"install keras<={high}.99 for full support.",
            RuntimeWarning,
            stacklevel=2,
        )


# ------------------------------------------------------------------------- function names


def keep_registered_function_names(functions) -> list:
    """Make Keras save each of ``functions`` under its registered name; return those patched.

    Keras 3.3-3.5 serialize a plain function by its ``__name__`` and, when that name is also
    one of Keras's own activations, ``keras.activations.serialize`` stores only the bare name:
    a registered ``keras_init_lab>leaky_relu`` (slope 0.01) then reloads as Keras's
    ``leaky_relu`` (slope 0.2). Newer Keras stores the registered name. On a Keras that still
    returns a bare string for one of ``functions``, this wraps the private module attribute
    ``keras.src.activations.serialize`` (which every layer's ``get_config`` calls) so that,
    for those functions only, it returns the full config with the registered name, as newer
    Keras does. Anything else is serialized exactly as before. Calling it again is harmless.

    Args:
        functions: registered (``keras.saving.register_keras_serializable``) functions.

    Returns:
        The functions that needed the patch (empty on Keras versions that do not).
    """
    try:
        module = importlib.import_module("keras.src.activations")
        from keras.src.saving import serialization_lib
    except ImportError:
        return []
    current = getattr(module, "serialize", None)
    if current is None:
        return []
    original = getattr(current, "_keras_init_lab_original", current)
    patched_ids = set(getattr(current, "_keras_init_lab_ids", ()))
    needed = [fn for fn in functions if isinstance(original(fn), str)]
    patched_ids |= {id(fn) for fn in needed}
    if not patched_ids:
        return []

    def serialize(activation):
        config = original(activation)
        if id(activation) in patched_ids and isinstance(config, str):
            full = serialization_lib.serialize_keras_object(activation)
            full["config"] = keras.saving.get_registered_name(activation)
            return full
        return config

    serialize._keras_init_lab_original = original
    serialize._keras_init_lab_ids = frozenset(patched_ids)
    module.serialize = serialize
    return needed


def keep_registered_function_names_later(functions, found: list) -> None:
    """:func:`keep_registered_function_names` at Keras's first ``serialize`` call, not now.

    The probe calls Keras's serializer, and ``serialize_keras_object`` asks whether
    TensorFlow is available (``tf.available`` in ``keras/src/saving/serialization_lib.py``,
    Keras 3.15), which imports TensorFlow wherever it is installed: done at import on the JAX
    or PyTorch backend, it would load TensorFlow into a process that never uses it. This
    wraps ``keras.src.activations.serialize`` once; its first call puts Keras's function
    back, runs the probe (patching where needed) and serializes through the result, so the
    probe runs when Keras serializes anyway.

    Example:
        >>> found = []
        >>> keep_registered_function_names_later([my_registered_function], found)
        >>> keras.layers.Dense(2, activation=my_registered_function).get_config()  # probes
        >>> found  # the functions that needed the patch (empty on newer Keras)
        []

    Args:
        functions: registered (``keras.saving.register_keras_serializable``) functions.
        found: a list that receives the functions that needed the patch, at the first call.
    """
    try:
        module = importlib.import_module("keras.src.activations")
    except ImportError:
        return
    current = getattr(module, "serialize", None)
    if current is None:
        return

    def serialize(activation):
        if module.serialize is serialize:  # the first call: probe, then serialize
            module.serialize = current
            found.extend(keep_registered_function_names(functions))
        return module.serialize(activation)

    # A probe run meanwhile (keep_registered_function_names) wraps Keras's own function.
    serialize._keras_init_lab_original = current
    module.serialize = serialize


def _has_activation_serialize() -> bool:
    return callable(getattr(importlib.import_module("keras.src.activations"), "serialize", None))


INTERNALS = INTERNALS + (
    Internal(
        "keras.src.activations.serialize",
        "save the package's activations under their registered names (Keras 3.3-3.5)",
        _has_activation_serialize,
    ),
)
