"""Layer-sequential unit-variance (LSUV) initialization, Mishkin & Matas 2016.

LSUV is a data-dependent initialization: start from orthonormal kernels, then walk the
layers in forward order and rescale each kernel until that layer's *pre-activation* output has
unit variance on a batch of real data. Where He or Glorot predict the variance from a formula
that assumes Gaussian inputs and a known activation, LSUV measures it, so it also works for
activations and architectures with no closed-form gain.

Formula, for each Dense/Conv layer ``L`` in forward order::

    W_L <- orthonormal                               (pre-initialization, Saxe et al. 2014)
    repeat until |Var(B_L) - 1| < tol or max_iter rescalings:
        B_L = pre-activation output of L on x_batch   (before a fused activation)
        W_L <- W_L / sqrt(Var(B_L))

Example:
    >>> import numpy as np, keras
    >>> from keras_init_lab import lsuv
    >>> model = keras.Sequential([keras.Input((20,))]
    ...     + [keras.layers.Dense(64, activation="relu") for _ in range(10)]
    ...     + [keras.layers.Dense(1)])
    >>> x = np.random.default_rng(0).normal(size=(256, 20)).astype("float32")
    >>> report = lsuv(model, x, seed=0)
    >>> report.converged
    True
    >>> print(report)            # one row per layer: initial var, final var, iterations

Reference:
    D. Mishkin and J. Matas, "All you need is a good init", ICLR 2016,
    https://arxiv.org/abs/1511.06422 (Algorithm 1).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from keras_init_lab import _keras_compat, initializers
from keras_init_lab._layers import KERNEL_LAYERS, walk_layers
from keras_init_lab._validation import check_choice, check_int, check_number

__all__ = ["BATCH_NORM_POLICIES", "MIN_RELIABLE_VALUES", "LSUVLayerResult", "LSUVReport", "lsuv"]

#: What ``lsuv`` does when the model contains batch normalization (see ``lsuv``'s docstring).
BATCH_NORM_POLICIES = ("error", "ignore")

#: Fewest output values for a trustworthy variance estimate: the sample variance of ``n``
#: Gaussian values has relative standard deviation ``sqrt(2/(n-1))``; ``n = 2/0.1^2 + 1 = 201``
#: keeps it at the paper's tolerance 0.1. Below this LSUV still runs but warns.
MIN_RELIABLE_VALUES = 201

_BATCH_NORM_LAYERS = (keras.layers.BatchNormalization,)


@dataclass(frozen=True)
class LSUVLayerResult:
    """What LSUV did to one layer.

    Attributes:
        name: the layer's name.
        layer_type: its class name (``"Dense"``, ``"Conv2D"``...).
        initial_variance: pre-activation variance on the batch after the orthogonal
            pre-initialization (or with the model's own kernel when ``orthogonal_init=False``),
            before any rescaling.
        final_variance: pre-activation variance after the last rescaling.
        iterations: how many rescalings were applied (0 when already within ``tol``).
        converged: ``|final_variance - target_variance| < tol``.
        scale: total factor the kernel was multiplied by (product of ``1/sqrt(var)``).
        n_values: number of values the variance was measured over (batch x units x positions).
    """

    name: str
    layer_type: str
    initial_variance: float
    final_variance: float
    iterations: int
    converged: bool
    scale: float
    n_values: int


@dataclass
class LSUVReport:
    """Per-layer results of :func:`lsuv`, in forward order; prints as a table.

    Iterating yields :class:`LSUVLayerResult`; ``report["dense_3"]`` looks a layer up by name.
    """

    layers: list[LSUVLayerResult] = field(default_factory=list)
    tol: float = 0.1
    max_iter: int = 10
    target_variance: float = 1.0
    notes: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """True when every layer ended within ``tol`` of the target variance."""
        return all(layer.converged for layer in self.layers)

    def __iter__(self) -> Iterator[LSUVLayerResult]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LSUVLayerResult:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(
                f"No layer named {key!r} in the LSUV report; layers: "
                f"{', '.join(layer.name for layer in self.layers)}."
            )
        return self.layers[key]

    def __str__(self) -> str:
        header = (
            f"LSUV (target variance {self.target_variance:g}, tol {self.tol:g}, "
            f"max_iter {self.max_iter})"
        )
        rows = [
            header,
            f"{'layer':<24} {'type':<16} {'initial var':>12} {'final var':>10} "
            f"{'iters':>5} {'scale':>9}  converged",
        ]
        for layer in self.layers:
            rows.append(
                f"{layer.name:<24} {layer.layer_type:<16} {layer.initial_variance:>12.4g} "
                f"{layer.final_variance:>10.4f} {layer.iterations:>5d} {layer.scale:>9.4g}  "
                f"{'yes' if layer.converged else 'NO'}"
            )
        rows.extend(f"note: {note}" for note in self.notes)
        return "\n".join(rows)


def _flatten_batch(x_batch) -> list[np.ndarray]:
    """The arrays inside ``x_batch`` (one array, or a list/tuple/dict for multi-input models)."""
    if isinstance(x_batch, dict):
        return [np.asarray(v) for v in x_batch.values()]
    if isinstance(x_batch, (list, tuple)):
        return [np.asarray(v) for v in x_batch]
    return [np.asarray(x_batch)]


def _check_batch(x_batch) -> None:
    if x_batch is None or isinstance(x_batch, (str, bytes)):
        raise TypeError(
            "x_batch must be a batch of inputs (an array, or a list/dict of arrays); "
            f"received x_batch={x_batch!r}. Pass a batch such as x_train[:256]."
        )
    arrays = _flatten_batch(x_batch)
    if not arrays:
        raise ValueError(f"x_batch is empty: received {x_batch!r}. Pass a batch of inputs.")
    for array in arrays:
        if array.ndim == 0 or array.shape[0] == 0:
            raise ValueError(
                f"x_batch must hold at least one sample; received an array of shape "
                f"{array.shape}. Pass a batch such as x_train[:256]."
            )
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise ValueError(
                f"x_batch contains {bad} non-finite values (NaN or Inf) in an array of shape "
                f"{array.shape}. Clean or impute the inputs before LSUV."
            )


def _check_options(tol, max_iter, target_variance, batch_norm, seed) -> None:
    """Wrong type -> TypeError, wrong value -> ValueError (the package's one policy)."""
    paper = "Mishkin & Matas use tol=0.1, max_iter=10 and target_variance=1.0."
    check_number("tol", tol, positive=True, hint=paper)
    check_number("target_variance", target_variance, positive=True, hint=paper)
    check_int("max_iter", max_iter, minimum=1)
    check_choice("batch_norm", batch_norm, BATCH_NORM_POLICIES)
    check_int("seed", seed, minimum=0, allow_none=True)


class _CaptureInput:
    """Context manager: record the first positional input of ``layer``'s next call.

    Wraps the layer instance's ``call`` (like a PyTorch forward hook) and always removes the
    wrapper on exit, also when the forward pass raises.
    """

    def __init__(self, layers: Sequence, order: list | None = None):
        self.layers = list(layers)
        self.order = order
        self.inputs: dict[int, Any] = {}
        self._patches = contextlib.ExitStack()

    def _wrapper(self, layer):
        original = layer.call

        def wrapper(*args, **kwargs):
            if id(layer) not in self.inputs:
                self.inputs[id(layer)] = args[0] if args else next(iter(kwargs.values()))
                if self.order is not None:
                    self.order.append(layer)
            return original(*args, **kwargs)

        return wrapper

    def __enter__(self):
        with contextlib.ExitStack() as stack:
            for layer in self.layers:
                stack.enter_context(_keras_compat.patched(layer, "call", self._wrapper(layer)))
            self._patches = stack.pop_all()
        return self

    def __exit__(self, *exc):
        self._patches.close()
        return False


def _pre_activation(layer, layer_input) -> np.ndarray:
    """Output of ``layer`` on ``layer_input`` with its fused activation switched off."""
    if getattr(layer, "activation", None) is None:
        return np.asarray(keras.ops.convert_to_numpy(layer(layer_input)), dtype=np.float64)
    with _keras_compat.patched(layer, "activation", keras.activations.linear):
        return np.asarray(keras.ops.convert_to_numpy(layer(layer_input)), dtype=np.float64)


def _variance(values: np.ndarray, layer, iteration: int) -> float:
    if not np.all(np.isfinite(values)):
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ValueError(
            f"LSUV: layer {layer.name!r} produced {bad} non-finite pre-activation values "
            f"(NaN/Inf) at iteration {iteration}. An earlier layer overflows or the inputs are "
            "far from unit scale: standardize x_batch, or check the layers before it."
        )
    variance = float(np.var(values))
    if variance == 0.0:
        raise ValueError(
            f"LSUV: layer {layer.name!r} has zero pre-activation variance on the batch (every "
            f"value equals {float(values.flat[0]):g}), so no rescaling can reach unit variance. "
            "Its input is constant: a dead ReLU layer upstream, a constant input feature, or a "
            "batch of identical samples."
        )
    return variance


def lsuv(
    model,
    x_batch,
    tol: float = 0.1,
    max_iter: int = 10,
    target_variance: float = 1.0,
    orthogonal_init: bool = True,
    batch_norm: str = "error",
    seed: int | None = None,
    verbose: bool = False,
) -> LSUVReport:
    """Initialize ``model``'s Dense/Conv kernels in place with LSUV (Mishkin & Matas 2016).

    Formula: orthonormal ``W`` first; then, layer by layer in forward order,
    ``W <- W / sqrt(Var(B))`` where ``B`` is the layer's pre-activation output on ``x_batch``,
    repeated until ``|Var(B) - target_variance| < tol`` or ``max_iter`` rescalings. For a layer
    with a fused activation (``Dense(64, activation="relu")``) the variance is measured *before*
    the activation (the activation is switched off for the measurement); a separate
    ``Activation`` layer after it is simply not part of the measured output. Biases are left as
    they are (zeros by default); the variance is taken over every value of the output (batch,
    units and spatial positions together), as the paper does. Layers are found by hooking their
    ``call`` during one forward pass, so nested and subclassed models work; a layer called more
    than once (shared) is measured on its first call.

    Unit pre-activation variance is what He/Glorot aim for analytically (lecture 002,
    initialization: keep the variance equal between layers); LSUV measures it.

    Example:
        >>> report = lsuv(model, x_train[:256], tol=0.1, max_iter=10, seed=0)
        >>> report["dense_3"].final_variance      # within 0.1 of 1.0

    Args:
        model: a built or unbuilt Keras model (Sequential, Functional, subclassed; nested models
            are walked). It is called on ``x_batch`` in inference mode (``training=False``).
        x_batch: a batch of real inputs (array, or list/dict for multi-input models). A few
            hundred samples: the sample variance of ``n`` Gaussian values has relative standard
            deviation ``sqrt(2/(n-1))``; below ``MIN_RELIABLE_VALUES`` (201) values per layer
            LSUV warns.
        tol: accepted distance of the variance from ``target_variance``. Paper: 0.1.
        max_iter: maximum rescalings per layer. Paper: 10.
        target_variance: the variance to reach. Paper: 1.0.
        orthogonal_init: pre-initialize every kernel with ``initializers.Orthogonal`` (the
            paper's step 1). ``False`` keeps the current kernels and only rescales them.
        batch_norm: what to do when the model contains ``BatchNormalization``. ``"error"``
            (default) raises: in training mode BatchNorm renormalizes every batch, so the scale
            LSUV gives the layer feeding it has no effect on what follows (the paper proposes
            LSUV as an alternative to BatchNorm, not an addition). ``"ignore"`` rescales the
            Dense/Conv layers anyway and leaves BatchNorm layers untouched; the forward passes
            run in inference mode, where a fresh BatchNorm (moving mean 0, variance 1,
            gamma 1, beta 0) is the identity up to its epsilon.
        seed: ``None`` or an int; layer ``i`` gets orthogonal seed ``seed + i``.
        verbose: print one line per layer as it is processed.

    Returns:
        An :class:`LSUVReport`: per layer (forward order) the initial and final variance,
        iterations, total scale and whether it converged. ``report.converged`` is True when all
        layers did. Layers that did not converge within ``max_iter`` are reported, not raised.

    Raises:
        TypeError: ``model`` is not a Keras model, or an option of the wrong type (a string
            ``tol``, a float ``max_iter``...).
        ValueError: bad option values; an empty or non-finite batch; a model with no Dense/Conv
            layer; BatchNorm with ``batch_norm="error"``; a layer whose output on the batch has
            fewer than 2 values (a variance needs two); a layer whose pre-activation is
            non-finite or constant (zero variance cannot be rescaled to 1).

    Reference:
        Mishkin & Matas, "All you need is a good init", ICLR 2016,
        https://arxiv.org/abs/1511.06422 (Algorithm 1); orthogonal pre-initialization from
        Saxe et al., ICLR 2014, https://arxiv.org/abs/1312.6120.
    """
    _check_options(tol, max_iter, target_variance, batch_norm, seed)
    for flag, value in (("orthogonal_init", orthogonal_init), ("verbose", verbose)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False; received {flag}={value!r}.")
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"lsuv needs a Keras model; received {type(model).__name__}. Build one with "
            "keras.Sequential([...]) or keras.Model(inputs, outputs)."
        )
    _check_batch(x_batch)

    all_layers = walk_layers(model)
    norms = [layer for layer in all_layers if isinstance(layer, _BATCH_NORM_LAYERS)]
    notes = []
    if norms:
        if batch_norm == "error":
            raise ValueError(
                f"The model has BatchNormalization layers ({', '.join(n.name for n in norms)}). "
                "In training mode they renormalize every batch, so the scale LSUV gives the "
                "layers feeding them has no effect; LSUV is proposed as an alternative to "
                "BatchNorm (Mishkin & Matas 2016). Remove them, or pass batch_norm='ignore' to "
                "rescale the Dense/Conv layers anyway (measured in inference mode)."
            )
        notes.append(
            f"BatchNormalization layers left untouched (batch_norm='ignore'): "
            f"{', '.join(n.name for n in norms)}; measured in inference mode."
        )
    candidates = [layer for layer in all_layers if isinstance(layer, KERNEL_LAYERS)]
    if not candidates:
        raise ValueError(
            f"Model {model.name!r} has no Dense or Conv layer for LSUV to initialize; found "
            f"layers: {', '.join(type(layer).__name__ for layer in all_layers) or 'none'}."
        )

    # One forward pass, hooked, gives the forward order (and builds an unbuilt model).
    order: list = []
    with _CaptureInput(candidates, order=order):
        model(x_batch, training=False)
    unused = [layer.name for layer in candidates if layer not in order]
    if unused:
        notes.append(f"layers not called on this batch, left as they were: {', '.join(unused)}")

    if orthogonal_init:
        for index, layer in enumerate(order):
            init = initializers.Orthogonal(gain=1.0, seed=None if seed is None else seed + index)
            layer.kernel.assign(init(tuple(layer.kernel.shape), dtype=layer.kernel.dtype))

    report = LSUVReport(
        tol=float(tol), max_iter=int(max_iter), target_variance=float(target_variance), notes=notes
    )
    for layer in order:
        with _CaptureInput([layer]) as capture:
            model(x_batch, training=False)
        layer_input = capture.inputs[id(layer)]
        values = _pre_activation(layer, layer_input)
        if values.size < 2:
            raise ValueError(
                f"LSUV: layer {layer.name!r} gives only {values.size} value(s) on this batch "
                f"(output shape {values.shape}); a variance needs at least 2. Pass a larger "
                "x_batch."
            )
        if values.size < MIN_RELIABLE_VALUES:
            warnings.warn(
                f"LSUV: layer {layer.name!r} gives {values.size} values on this batch; with "
                f"fewer than {MIN_RELIABLE_VALUES} the variance estimate itself varies by more "
                "than 10% from batch to batch. Pass a larger x_batch.",
                stacklevel=2,
            )
        variance = _variance(values, layer, 0)
        initial, iterations, total_scale = variance, 0, 1.0
        while abs(variance - target_variance) >= tol and iterations < max_iter:
            factor = math.sqrt(target_variance / variance)
            layer.kernel.assign(layer.kernel * factor)
            total_scale *= factor
            iterations += 1
            variance = _variance(_pre_activation(layer, layer_input), layer, iterations)
        result = LSUVLayerResult(
            name=layer.name,
            layer_type=type(layer).__name__,
            initial_variance=initial,
            final_variance=variance,
            iterations=iterations,
            converged=abs(variance - target_variance) < tol,
            scale=total_scale,
            n_values=int(values.size),
        )
        report.layers.append(result)
        if verbose:
            print(
                f"LSUV {result.name}: variance {result.initial_variance:.4g} -> "
                f"{result.final_variance:.4f} in {result.iterations} iteration(s)"
            )
    return report
