"""The demo: lecture 002's pairing table shown at initialization and in training, over seeds.

Lecture 002 (initialization) ends with a summary: Xavier + tanh and He + ReLU are *ideal*,
Xavier + ReLU and He + tanh are *risky*. :func:`run_demo` shows it in two parts.

1. **At initialization** (no training, no training noise): the four pairings
   (glorot_uniform / he_normal x tanh / relu) through lecture 002's deep net, 50 hidden layers
   of 100 units and nothing else (input ``x ~ N(0, 1)`` of 100 features, no output layer),
   forward and backward, measured and predicted by the mean field, with ``propagate``'s bands
   (:func:`~keras_init_lab.experiments.propagation.propagate`).
2. **In training**: each activation's two pairings (Xavier vs He, the same activation)
   trained at the depth where the course's effect shows (:data:`PAIRS`), on scikit-learn's
   8x8 digits with standardized inputs, over :data:`DEMO_SEEDS` seeds, and marked relative to
   each other (``pairings.pair_outcome``: the ideal pairing ahead of the risky one by
   ``pairings.TRAINING_MARGIN`` or more in the median final accuracy).

``pairings.demo_rows`` marks each of the course's four rows (agrees / partly / disagrees)
from both parts. Everything runs under ``op_determinism`` (deterministic TensorFlow ops,
the previous setting restored afterwards) with every seed set, so the same seed gives the same
numbers, run after run and process after process; the margins are wide enough that a float
difference on another CPU cannot flip a mark.

Each pair builds one model and compiles it once (tracing a 50-layer train step costs more
than 20 epochs of it); every run then draws fresh weights from its initializer and seed
(``keras.utils.set_random_seed``), zeroes the biases and restores the optimizer's variables
to their state before the first step, so each run starts exactly as a newly built model
would. No statistics callback runs during ``fit``: what the demo reads at initialization and
at the end comes from one forward and backward pass on a fixed probe batch before and after.

Example:
    >>> result = run_demo(quick=True, verbose=0)                      # doctest: +SKIP
    >>> [(row["pairing"], row["mark"]) for row in result.rows]        # doctest: +SKIP

Reference:
    K. He et al., "Delving Deep into Rectifiers" (ICCV 2015), https://arxiv.org/abs/1502.01852
    (their fig. 3: a 30-layer plain ReLU net stalls with Xavier's scale and trains with
    theirs); S. Schoenholz et al., "Deep Information Propagation" (ICLR 2017),
    https://arxiv.org/abs/1611.01232 (tanh with weight variance 2 / fan_in is in the chaotic
    phase, its gradients grow with depth).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

import numpy as np

from keras_init_lab.experiments import pairings as _pairings
from keras_init_lab.experiments._json import json_safe
from keras_init_lab.experiments._text import wrap as _wrap

__all__ = [
    "DEMO_BATCH_SIZE",
    "DEMO_DATASET",
    "DEMO_MOMENTUM",
    "DEMO_SEEDS",
    "DEMO_WIDTH",
    "INIT_DEPTH",
    "INIT_WIDTH",
    "PAIRS",
    "QUICK_EPOCHS",
    "DemoResult",
    "DemoSettings",
    "PairResult",
    "PairSettings",
    "SeedRun",
    "run_demo",
]

#: Part 2's data: scikit-learn's bundled 8x8 digits (1797 images, no download), standardized
#: with the training split's mean and standard deviation (lecture 004: scale the inputs).
DEMO_DATASET = "digits"
#: 64 units per hidden layer: the digits have 64 pixels, so every hidden layer, the first
#: included, is square (fan_in = fan_out = 64); Glorot's variance is then 1/64 = LeCun's, and
#: He's 2/64, the only difference between a pair's two nets.
DEMO_WIDTH = 64
#: SGD with momentum 0.9 (``lessons.optimizers``'s "momentum"), not Adam: Adam divides each
#: step by the gradient's running RMS and would hide the scale of the gradients, which is
#: what the pairings change.
DEMO_MOMENTUM = 0.9
#: 64 samples per step: 23 steps per epoch on the 1437 training images.
DEMO_BATCH_SIZE = 64
#: Seeds per pairing: the median of 5 is the middle run, so it moves only when three of
#: the five go astray. Measured (see :data:`PAIRS`), 1 run in 14 of Xavier + tanh collapsed;
#: three of five doing so has a probability of about 10 (1/14)^3 = 0.4% (two of three, with 3
#: seeds: 1.5%). The whole demo stays within its time budget with 5.
DEMO_SEEDS = 5
#: Part 1's net: lecture 002's 50 layers of 100 units.
INIT_DEPTH = 50
INIT_WIDTH = 100
#: Part 1's sample: weight draws x inputs per draw; 4 x 128 keeps each verdict several times
#: inside its band (measured changes vary by a few percent between seeds).
INIT_TRIALS, INIT_SAMPLES = 4, 128
QUICK_INIT_TRIALS, QUICK_INIT_SAMPLES = 2, 64
#: ``--quick`` trains the ReLU pair only, for 10 epochs: by then He + ReLU had reached 59-79%
#: in 14 runs (seeds 0-7; oneDNN on, kernels perturbed by 1e-6) and Glorot + ReLU at most 9%,
#: 50 points or more apart (after 8 epochs, 44-74%: too close to the margin).
QUICK_EPOCHS = 10
#: Probe batch for the measurements at initialization and at the end: the first 256
#: training images (``training.PROBE_SAMPLES``, ActivationStats' own default cap).
PROBE_SAMPLES = 256
#: Validation batch: the whole validation split (360 images) in one step; the accuracy is a
#: count over all of them whatever the batch.
VALIDATION_BATCH = 512
#: A tanh unit is saturated where ``|a| > 0.97`` (slope below 6% of its peak), as in
#: ``callbacks.ActivationStats``.
TANH_SATURATED = 0.97


@dataclasses.dataclass(frozen=True)
class PairSettings:
    """One activation's pair: its two initializers and where they are trained.

    Attributes:
        activation: the activation both pairings use.
        ideal, risky: lecture 002's ideal and risky initializer for it.
        depth: hidden layers.
        learning_rate: SGD's learning rate (momentum :data:`DEMO_MOMENTUM`).
        epochs: passes over the training split.
        why: why this depth and learning rate, in one sentence.
    """

    activation: str
    ideal: str
    risky: str
    depth: int
    learning_rate: float
    epochs: int
    why: str


#: Where each effect shows, measured on the digits at width 64, batch 64, SGD with momentum
#: 0.9, 20 epochs (final validation accuracy; seeds 0-7, and seeds 0-2 again with oneDNN's
#: kernels on, with one thread, and with every initial kernel multiplied by 1 + 1e-6 noise):
#:
#: * ReLU at 30 layers, learning rate 0.002: He + ReLU 87-93% in all 14 runs, Glorot + ReLU
#:   8-15% (chance 8-10%) in all 14: Glorot's variance halves per layer (0.5^29 ~ 1.9e-9
#:   from the first hidden layer to the last), so the weights barely move. At 20 layers
#:   Glorot + ReLU only starts later (30-54% after 20 epochs at 0.005); at 30 layers He + ReLU
#:   swung between 10% and 79% at 0.005 and 0.01 (a 30-layer, 64-unit ReLU net's variance
#:   fluctuates with the draws), and trains smoothly at 0.002.
#: * tanh at 50 layers, learning rate 0.0065: He + tanh back at chance (8-18%) within a few
#:   epochs in all 14 runs; Xavier + tanh 80-95% in 12 of 14, 64% and 8% in the other two.
#:   He's scale puts tanh in the chaotic regime (weight variance 2 / fan_in > 1 / fan_in):
#:   the backward variance grows 1.09 per layer (x73 over 50 layers), the first layers take
#:   the largest steps, and a learning rate Xavier + tanh takes in its stride throws He +
#:   tanh off. At 0.005 He + tanh still climbed to 50-80% in 3 of 14 runs; at 0.0035 both
#:   train; at 0.01 Xavier + tanh collapses too; at 40 layers and 0.005 the two tie.
PAIRS = (
    PairSettings(
        activation="relu",
        ideal="he_normal",
        risky="glorot_uniform",
        depth=30,
        learning_rate=0.002,
        epochs=20,
        why="30 layers: with Glorot's scale the ReLU signal halves per layer (0.5^29 ~ 2e-9 "
        "over the stack), so the weights hardly move, as in He et al.'s 30-layer plain net "
        "(at 20 layers it only delays learning); learning rate 0.002, the largest of 0.01, "
        "0.005 and 0.002 at which He + ReLU trains smoothly at this depth and width",
    ),
    PairSettings(
        activation="tanh",
        ideal="glorot_uniform",
        risky="he_normal",
        depth=50,
        learning_rate=0.0065,
        epochs=20,
        why="50 layers: He's scale puts tanh in the chaotic regime, its backward variance "
        "grows 1.09 per layer (x73 over the stack), so the first layers take the largest "
        "steps; learning rate 0.0065 trains Xavier + tanh and throws He + tanh back to chance "
        "(at 0.0035 both train, at 0.01 both collapse, at 40 layers and 0.005 they tie)",
    ),
)


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Everything that decides the demo's numbers, besides the seed.

    Attributes:
        pairs: the pairs trained in part 2 (:data:`PAIRS`; ``--quick``: the ReLU pair for
            :data:`QUICK_EPOCHS` epochs).
        seeds: seeds per pairing.
        width, batch_size, momentum: shared by every run.
        init_depth, init_width, init_trials, init_samples: part 1's net and sample.
        max_train_samples: cap on the training split (``None``: all of it; tests use less).
        quick: whether this is ``--quick`` (said in the output, with what it leaves out).
    """

    pairs: tuple[PairSettings, ...] = PAIRS
    seeds: int = DEMO_SEEDS
    width: int = DEMO_WIDTH
    batch_size: int = DEMO_BATCH_SIZE
    momentum: float = DEMO_MOMENTUM
    init_depth: int = INIT_DEPTH
    init_width: int = INIT_WIDTH
    init_trials: int = INIT_TRIALS
    init_samples: int = INIT_SAMPLES
    max_train_samples: int | None = None
    quick: bool = False

    @classmethod
    def quick_settings(cls) -> DemoSettings:
        """``--quick``: part 1 on fewer draws, part 2 the ReLU pair for 8 epochs."""
        relu = next(p for p in PAIRS if p.activation == "relu")
        return cls(
            pairs=(dataclasses.replace(relu, epochs=QUICK_EPOCHS),),
            init_trials=QUICK_INIT_TRIALS,
            init_samples=QUICK_INIT_SAMPLES,
            quick=True,
        )

    def left_out(self) -> list[str]:
        """What these settings do not run, compared with the full demo (empty for it)."""
        missing = []
        trained = {p.activation: p for p in self.pairs}
        for full in PAIRS:
            pair = trained.get(full.activation)
            if pair is None:
                missing.append(
                    f"the {full.activation} pair ({full.ideal} vs {full.risky} at "
                    f"{full.depth} layers, {full.epochs} epochs), so its rows have no "
                    "training mark and no overall mark"
                )
            elif pair.epochs < full.epochs:
                missing.append(
                    f"the {full.activation} pair's epochs {pair.epochs + 1}-{full.epochs}"
                )
        if self.init_trials < INIT_TRIALS or self.init_samples < INIT_SAMPLES:
            missing.append(
                f"part 1's larger sample ({INIT_TRIALS} draws x {INIT_SAMPLES} inputs; here "
                f"{self.init_trials} x {self.init_samples})"
            )
        return missing


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """One training run of the demo: one initializer, one activation, one seed.

    Attributes:
        initializer, activation, depth, seed: what ran.
        val_accuracy, val_loss: per epoch (epoch ``i + 1`` at index ``i``), on the
            validation split.
        forward_change_start: pre-activation variance, last hidden layer over the first, at
            initialization (probe batch).
        backward_change_start: variance of ``dL/dz`` (the loss's gradient at the
            pre-activations), first hidden layer over the last, at initialization.
        weights_moved: median over hidden kernels of ``||W_end - W_start|| / ||W_start||``,
            at the end.
        saturated_end: tanh only: mean over hidden layers of the fraction of probe values with
            ``|a| > 0.97``, at the end (``None`` for ReLU).
        seconds: wall time of the run.
    """

    initializer: str
    activation: str
    depth: int
    seed: int
    val_accuracy: tuple[float, ...]
    val_loss: tuple[float, ...]
    forward_change_start: float | None
    backward_change_start: float | None
    weights_moved: float | None
    saturated_end: float | None
    seconds: float

    @property
    def final_accuracy(self) -> float:
        """Validation accuracy at the end (after the last epoch)."""
        return self.val_accuracy[-1]

    @property
    def best_accuracy(self) -> float:
        """The highest validation accuracy of any epoch."""
        return max(self.val_accuracy)

    @property
    def best_epoch(self) -> int:
        """The first epoch (from 1) with :attr:`best_accuracy`."""
        return self.val_accuracy.index(self.best_accuracy) + 1

    def to_json(self) -> dict:
        """Plain JSON (lists for tuples, non-finite numbers as ``null``)."""
        return json_safe(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class PairResult:
    """One pair's runs (ideal first, then risky; seeds in order) and what they show.

    Attributes:
        settings: the pair's :class:`PairSettings`.
        runs: every :class:`SeedRun`.
        outcome: ``pairings.pair_outcome`` of the final accuracies.
    """

    settings: PairSettings
    runs: tuple[SeedRun, ...]
    outcome: dict

    def runs_of(self, initializer: str) -> list[SeedRun]:
        """The runs of one initializer, in seed order."""
        return [run for run in self.runs if run.initializer == initializer]

    def median(self, initializer: str, field: str) -> float | None:
        """Median over seeds of a :class:`SeedRun` field (``None`` values left out)."""
        values = [getattr(run, field) for run in self.runs_of(initializer)]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None


@dataclasses.dataclass
class DemoResult:
    """What :func:`run_demo` measured and how it marks lecture 002's table.

    Attributes:
        initialization: part 1, a ``PropagationResult`` of the four pairings.
        pairs: part 2, one :class:`PairResult` per trained pair.
        rows: ``pairings.demo_rows``: the course's four rows with their marks.
        settings: the :class:`DemoSettings` that ran.
        config: the seed, data, chance level, determinism and what was left out.
    """

    initialization: object
    pairs: list[PairResult]
    rows: list[dict]
    settings: DemoSettings
    config: dict

    def to_json(self) -> dict:
        """Plain-JSON form: every number the report, the figure and the README table use."""
        return json_safe(
            {
                "config": self.config,
                "settings": dataclasses.asdict(self.settings),
                "initialization": self.initialization.to_json(),
                "pairs": [
                    {
                        "settings": dataclasses.asdict(pair.settings),
                        "outcome": pair.outcome,
                        "runs": [run.to_json() for run in pair.runs],
                    }
                    for pair in self.pairs
                ],
                "rows": self.rows,
            }
        )

    def format_training(self) -> str:
        """Part 2 as text: one line per pair, the reasons for the settings and the evidence."""
        lines = [
            f"{'pair':<5} {'layers':>6} {'lr':>6}  {'ideal: median [range]':<28} "
            f"{'risky: median [range]':<27} {'gap':>4}  outcome",
        ]
        lines.append("-" * len(lines[0]))
        for pair in self.pairs:
            s, out = pair.settings, pair.outcome
            ideal = f"{s.ideal} {_range(out['ideal_median'], out['ideal_range'])}"
            risky = f"{s.risky} {_range(out['risky_median'], out['risky_range'])}"
            lines.append(
                f"{s.activation:<5} {s.depth:>6} {s.learning_rate:>6g}  {ideal:<28} {risky:<27} "
                f"{100 * out['gap']:>+4.0f}  {out['outcome']}"
            )
        epochs = sorted({p.settings.epochs for p in self.pairs})
        lines += _wrap(
            f"Validation accuracy at the end (after epoch {_join(epochs)}), median and range of "
            f"{self.settings.seeds} seeds; gap = ideal - risky in points; a pair is "
            f"'ideal ahead' or 'risky ahead' from {100 * _pairings.TRAINING_MARGIN:.0f} points, "
            "a tie below; chance (always the majority class) is "
            f"{self.config['chance_accuracy']:.0%}.",
        )
        lines.append("Why these settings:")
        for pair in self.pairs:
            lines += _wrap(f"{pair.settings.activation}: {pair.settings.why}.", indent="  ")
        lines.append("What the runs show (medians over seeds):")
        for pair in self.pairs:
            lines += _wrap(_evidence(pair), indent="  ")
        return "\n".join(lines)

    def format_marks(self) -> str:
        """The course's four rows: init mark, training mark, the row's mark and why."""
        header = (
            f"{'pairing':<22} {'course says (lecture 002)':<44} {'at init':<9} {'training':<9} mark"
        )
        lines = [header, "-" * len(header)]
        for row in self.rows:
            says = f"{row['course_grade']}: {row['course_says']}"
            lines.append(
                f"{row['pairing']:<22} {says:<44} {row['initialization_mark']:<9} "
                f"{row['training_mark'] or '-':<9} {(row['mark'] or '-').upper()}"
            )
            lines += _wrap(row["reason"], indent="    why: ", subsequent="         ")
        lines += _wrap(f"Dead units, in both ReLU rows: {_pairings.DEAD_UNITS_NOTE}.")
        lines += _wrap(
            "Marks: 'at init' grades the course's claim about the signal (part 1), 'training' "
            "the pair's outcome (part 2: ideal ahead agrees, tie partly, risky ahead "
            "disagrees); the row's mark is their common mark, partly when they differ."
        )
        return "\n".join(lines)

    def format_left_out(self) -> str:
        """What ``--quick`` leaves out, or an empty string for the full demo."""
        missing = self.config.get("left_out") or []
        if not missing:
            return ""
        lines = [
            "Left out by --quick (keras-init-lab demo runs them):"
            if self.settings.quick
            else "Left out by these settings, compared with keras-init-lab demo:"
        ]
        for item in missing:
            lines += _wrap(f"- {item}.", indent="  ", subsequent="    ")
        return "\n".join(lines)


def _join(values) -> str:
    return " / ".join(str(v) for v in values)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _range(median: float, bounds) -> str:
    return f"{100 * median:.0f}% [{100 * bounds[0]:.0f}-{100 * bounds[1]:.0f}%]"


def _x(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2g}" if math.isfinite(value) else "inf"


def _evidence(pair: PairResult) -> str:
    """One sentence of measured mechanism per pair, every number with when it was taken."""
    s = pair.settings
    runs = {name: pair.runs_of(name) for name in (s.ideal, s.risky)}
    parts = []
    for name in (s.ideal, s.risky):
        best = max(runs[name], key=lambda run: run.best_accuracy)
        parts.append(
            f"{name} + {s.activation}: forward variance "
            f"x{_x(pair.median(name, 'forward_change_start'))} "
            f"from hidden layer 1 to {s.depth} and backward x"
            f"{_x(pair.median(name, 'backward_change_start'))} from layer {s.depth} to 1 at "
            f"initialization; weights moved "
            f"{_pct_small(pair.median(name, 'weights_moved'))} by the end"
            + (
                f"; {_pct(pair.median(name, 'saturated_end'))} of units saturated at the end"
                if s.activation == "tanh"
                else ""
            )
            + f"; its best run peaked at {_pct(best.best_accuracy)} (epoch {best.best_epoch})"
        )
    return f"{s.activation} pair at {s.depth} layers: " + "; ".join(parts) + "."


def _pct_small(value) -> str:
    """A fraction as a percentage with two significant digits (0.013%, 4.1%)."""
    if value is None:
        return "n/a"
    return f"{100 * value:.2g}%"


# ---------------------------------------------------------------------------- the runs


def _hidden_pass(model, x, y, with_gradients: bool):
    """Pre-activations of every hidden layer on ``x``, and ``dL/dz`` for each if asked.

    The hidden layers are the model's kernel layers but the last (the logits layer); each is
    a ``Dense`` whose activation is applied here to its pre-activation ``z = h W + b``.
    """
    import keras
    import tensorflow as tf

    from keras_init_lab._layers import kernel_layers

    layers = kernel_layers(model)
    hidden, output = layers[:-1], layers[-1]
    h = tf.reshape(tf.constant(x), (len(x), -1))
    pre, post = [], []
    with tf.GradientTape() as tape:
        for layer in hidden:
            z = tf.matmul(h, layer.kernel) + layer.bias
            tape.watch(z)
            pre.append(z)
            h = layer.activation(z)
            post.append(h)
        logits = output(h)
        loss = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        )
    grads = tape.gradient(loss, pre) if with_gradients else None
    return pre, post, grads


def _variance(tensor) -> float:
    return float(np.var(np.asarray(tensor, dtype=np.float64)))


def _ratio(end: float, start: float) -> float | None:
    return end / start if start > 0 and math.isfinite(start) and math.isfinite(end) else None


def _batches(x, y, batch_size: int, shuffle_seed: int | None = None):
    """A ``tf.data`` pipeline of ``(x, y)`` batches, reshuffled every epoch from ``shuffle_seed``.

    Built here rather than by ``fit`` from arrays: Keras's own pipeline maps in parallel,
    which under op determinism TensorFlow rewrites to a sequential map and reports on stderr
    with one long error-level line per ``fit``; and the order of the samples is then the
    same whatever Keras version builds the batches.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def _draw_weights(model, initializer: str, seed: int) -> None:
    """Fresh kernels from ``initializer`` (seeded by ``seed``), biases 0, in layer order."""
    import keras

    from keras_init_lab import initializers
    from keras_init_lab._layers import kernel_layers

    keras.utils.set_random_seed(seed)
    for layer in kernel_layers(model):
        shape = tuple(layer.kernel.shape)
        layer.kernel.assign(initializers.get(initializer)(shape, dtype=layer.kernel.dtype))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(tuple(layer.bias.shape), dtype=layer.bias.dtype))


def _one_run(
    model, optimizer_state, data, pair: PairSettings, initializer, seed, settings, fit_verbose
):
    import keras

    from keras_init_lab._layers import kernel_layers

    started = time.perf_counter()
    _draw_weights(model, initializer, seed)
    for variable, value in optimizer_state:
        variable.assign(value)
    x_probe, y_probe = data.x_train[:PROBE_SAMPLES], data.y_train[:PROBE_SAMPLES]
    pre, _, grads = _hidden_pass(model, x_probe, y_probe, with_gradients=True)
    forward = _ratio(_variance(pre[-1]), _variance(pre[0]))
    backward = _ratio(_variance(grads[0]), _variance(grads[-1]))
    hidden = kernel_layers(model)[:-1]
    start = [np.asarray(layer.kernel, dtype=np.float64) for layer in hidden]
    keras.utils.set_random_seed(seed)
    history = model.fit(
        _batches(data.x_train, data.y_train, settings.batch_size, shuffle_seed=seed),
        validation_data=_batches(data.x_test, data.y_test, VALIDATION_BATCH),
        epochs=pair.epochs,
        shuffle=False,  # the batches above are already shuffled, every epoch anew
        verbose=fit_verbose,
    )
    moved = [
        float(np.linalg.norm(np.asarray(layer.kernel, dtype=np.float64) - w0) / np.linalg.norm(w0))
        for layer, w0 in zip(hidden, start)
        if np.linalg.norm(w0) > 0
    ]
    saturated = None
    if pair.activation == "tanh":
        _, post, _ = _hidden_pass(model, x_probe, y_probe, with_gradients=False)
        saturated = float(np.mean([np.mean(np.abs(np.asarray(a)) > TANH_SATURATED) for a in post]))
    return SeedRun(
        initializer=initializer,
        activation=pair.activation,
        depth=pair.depth,
        seed=seed,
        val_accuracy=tuple(float(v) for v in history.history["val_accuracy"]),
        val_loss=tuple(float(v) for v in history.history["val_loss"]),
        forward_change_start=forward,
        backward_change_start=backward,
        weights_moved=float(np.median(moved)) if moved else None,
        saturated_end=saturated,
        seconds=round(time.perf_counter() - started, 2),
    )


def _train_pair(pair: PairSettings, data, seeds, settings, progress, fit_verbose) -> PairResult:
    """Every run of one pair on one compiled model (see the module docstring)."""
    import keras

    from keras_init_lab.experiments.models import build_mlp

    keras.utils.set_random_seed(seeds[0])
    model = build_mlp(
        data.input_shape,
        data.num_classes,
        depth=pair.depth,
        width=settings.width,
        initializer=pair.ideal,
        activation=pair.activation,
    )
    optimizer = keras.optimizers.SGD(learning_rate=pair.learning_rate, momentum=settings.momentum)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    optimizer.build(model.trainable_variables)
    state = [(v, np.array(v)) for v in optimizer.variables]  # before the first step
    runs = []
    for initializer in (pair.ideal, pair.risky):
        for seed in seeds:
            run = _one_run(model, state, data, pair, initializer, seed, settings, fit_verbose)
            runs.append(run)
            progress(run)
    outcome = _pairings.pair_outcome(
        pair.activation,
        pair.ideal,
        [r.final_accuracy for r in runs if r.initializer == pair.ideal],
        pair.risky,
        [r.final_accuracy for r in runs if r.initializer == pair.risky],
    )
    keras.backend.clear_session(free_memory=False)
    return PairResult(pair, tuple(runs), outcome)


def run_demo(
    quick: bool = False,
    seed: int = 0,
    verbose: int = 1,
    settings: DemoSettings | None = None,
    on_part=None,
) -> DemoResult:
    """Run both parts of the demo and mark lecture 002's table; see the module docstring.

    Example:
        >>> result = run_demo(quick=True, verbose=0)                  # doctest: +SKIP
        >>> result.pairs[0].outcome["outcome"]                        # doctest: +SKIP
        'ideal ahead'

    Args:
        quick: ``--quick``'s settings (:meth:`DemoSettings.quick_settings`) when
            ``settings`` is not given.
        seed: the data split's seed and the first of the runs' seeds (``seed``,
            ``seed + 1``, ...); part 1's draws too.
        verbose: 0 silent; 1 one line per training run (result, time, ETA); 2 also
            Keras's line per epoch.
        settings: a :class:`DemoSettings` (default: the full demo, or ``--quick``'s).
        on_part: called with ``"initialization"`` (and the ``PropagationResult``) when part 1
            is done and with ``"training"`` (and ``None``) before part 2 starts; the command
            line prints its sections through it.

    Returns:
        A :class:`DemoResult`.

    Raises:
        TypeError / ValueError: a seed that is not an int >= 0, a verbosity outside 0-2.
    """
    import keras  # noqa: F401  (loaded first: the package registers its names when it loads)

    from keras_init_lab._keras_compat import op_determinism
    from keras_init_lab._validation import check_int
    from keras_init_lab.experiments.datasets import load_dataset, scale_inputs
    from keras_init_lab.experiments.propagation import propagate

    seed = check_int("seed", seed, minimum=0)
    verbose = check_int("verbose", verbose, minimum=0, maximum=2)
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be True or False; received quick={quick!r}.")
    if settings is None:
        settings = DemoSettings.quick_settings() if quick else DemoSettings()
    if not isinstance(settings, DemoSettings):
        raise TypeError(f"settings must be a DemoSettings; received settings={settings!r}.")
    seeds = [seed + k for k in range(settings.seeds)]
    on_part = on_part or (lambda part, result: None)
    total = 2 * len(seeds) * len(settings.pairs)
    started, done = time.perf_counter(), []

    def progress(run: SeedRun) -> None:
        done.append(run)
        if verbose:
            eta = (time.perf_counter() - started) / len(done) * (total - len(done))
            line = (
                f"run {len(done)}/{total}: {run.initializer} + {run.activation}, seed "
                f"{run.seed}: {_pct(run.final_accuracy)} after epoch {len(run.val_accuracy)}, "
                f"best {_pct(run.best_accuracy)} (epoch {run.best_epoch}) "
                f"[{run.seconds:.0f} s, ETA {eta:.0f} s]"
            )
            print("\n".join(_wrap(line, subsequent="    ")), flush=True)

    with op_determinism():
        initialization = propagate(
            initializers=["glorot_uniform", "he_normal"],
            activations=["tanh", "relu"],
            depth=settings.init_depth,
            width=settings.init_width,
            n_trials=settings.init_trials,
            n_samples=settings.init_samples,
            seed=seed,
        )
        on_part("initialization", initialization)
        raw = load_dataset(DEMO_DATASET, seed=seed)
        if settings.max_train_samples is not None:
            raw = raw.subset(n_train=settings.max_train_samples)
        data = scale_inputs(raw, "standardize")
        on_part("training", None)
        started = time.perf_counter()
        fit_verbose = 2 if verbose >= 2 else 0
        pairs = [
            _train_pair(pair, data, seeds, settings, progress, fit_verbose)
            for pair in settings.pairs
        ]
    rows = _pairings.demo_rows(
        initialization.settings,
        {p.settings.activation: p.outcome for p in pairs},
        epochs={p.settings.activation: p.settings.epochs for p in pairs},
        depths={p.settings.activation: p.settings.depth for p in pairs},
    )
    config = {
        "seed": seed,
        "seeds": seeds,
        "dataset": data.name,
        "dataset_description": raw.description,
        "n_train": int(len(data.x_train)),
        "n_test": int(len(data.x_test)),
        "chance_accuracy": data.chance_accuracy,
        "op_determinism": "enabled for the run, previous setting restored",
        "left_out": settings.left_out(),
        "training_margin": _pairings.TRAINING_MARGIN,
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    return DemoResult(initialization, pairs, rows, settings, config)
