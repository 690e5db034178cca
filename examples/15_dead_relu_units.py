"""Dead ReLU units: the same draws at He and at Glorot scale die in exactly the same places.

Lecture 002 (initialization) ends with a table that calls Xavier + ReLU risky for its dead
units and credits Kaiming + ReLU with few of them. ReLU is positively homogeneous
(``relu(c z) = c relu(z)`` for ``c > 0``), so with zero biases scaling every kernel by ``c``
scales layer ``l``'s pre-activations by ``c^l`` and changes no sign: He and Glorot applied to
the same standard-normal draws have the same dead units, unit by unit, at every depth. What
Glorot does to a ReLU stack is shrink the signal, ``E[h^2]`` halving at every layer. The dead
fraction grows with depth (the probe samples' representations become alike), and what changes
it is a nonzero bias (which does not scale with the kernels), a leaky slope (its slope is
never 0) or BatchNorm before the activation (each unit's batch mean is 0, so some sample is
positive). A unit is dead when its slope is 0 on every sample of the probe batch, which for
ReLU is exactly what ``ActivationStats`` counts (``docs/course.md``, erratum 22).

Run: ``python examples/15_dead_relu_units.py``

Expected output::

    20 ReLU layers of 32 units, zero biases, 50 draws, probe of 256 samples N(0, 1)
    same draws at He scale (std 0.2500) and Glorot scale (std 0.1768): same dead units: True
    dead units at layer        1       5      10      15      20     all
    He                      0.0%    4.0%   17.2%   25.6%   31.4%   15.7%
    Glorot                  0.0%    4.0%   17.2%   25.6%   31.4%   15.7%
    E[h^2] at layer 20 / layer 1: He 0.80, Glorot 1.52e-06 = He x 0.5^19 (0.5^19 = 1.91e-06)
    dead units of a ReLU net with zero biases: 4 layers 0.7%, 20 layers 15.7%, 50 layers 28.7%
    what changes them (20 layers)           He  Glorot  never positive (He)
      zero biases (above)                15.7%   15.7%   15.7%
      bias +0.1                          17.3%   16.4%   17.3%
      bias -0.1                          22.5%   72.1%   22.5%
      leaky 0.01                          0.0%    0.0%   15.3%
      batchnorm                           0.0%    0.0%    0.0%
    never positive: ActivationStats' count; a leaky unit counted there still has slope 0.01
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_init_lab.lessons import dead_units

SHOWN = (1, 5, 10, 15, 20)


def main(verbose: bool = True) -> dict:
    say = print if verbose else (lambda *a, **k: None)
    lesson = dead_units.dead_unit_lesson()
    same = lesson.zero_bias
    say(
        f"{lesson.depth} ReLU layers of {lesson.width} units, zero biases, {lesson.draws} draws, "
        f"probe of {lesson.probe_size} samples N(0, 1)"
    )
    say(
        f"same draws at He scale (std {same.he.weight_std:.4f}) and Glorot scale "
        f"(std {same.glorot.weight_std:.4f}): same dead units: {same.identical}"
    )
    say(f"{'dead units at layer':<20}" + "".join(f"{n:>8d}" for n in SHOWN) + f"{'all':>8}")
    for name, units in (("He", same.he), ("Glorot", same.glorot)):
        cells = "".join(f"{units.dead_fraction[n - 1]:>8.1%}" for n in SHOWN)
        say(f"{name:<20}{cells}{units.overall:>8.1%}")
    he, glorot = lesson.second_moment_ratio("he"), lesson.second_moment_ratio("glorot")
    say(
        f"E[h^2] at layer {lesson.depth} / layer 1: He {he:.2f}, Glorot {glorot:.3g} = He x "
        f"0.5^{lesson.depth - 1} (0.5^{lesson.depth - 1} = {lesson.predicted_glorot_ratio:.3g})"
    )
    by_depth = lesson.by_depth()
    say(
        "dead units of a ReLU net with zero biases: "
        + ", ".join(f"{n} layers {he_share:.1%}" for n, (he_share, _) in by_depth.items())
    )
    say(
        f"{'what changes them (' + str(lesson.depth) + ' layers)':<34}{'He':>8}{'Glorot':>8}"
        "  never positive (He)"
    )
    rows = {"zero biases (above)": same, **lesson.variants}
    for name, r in rows.items():
        never = r.he.never_positive_fraction.mean()
        say(f"  {name:<32}{r.he.overall:>8.1%}{r.glorot.overall:>8.1%}{never:>8.1%}")
    say("never positive: ActivationStats' count; a leaky unit counted there still has slope 0.01")
    return {"lesson": lesson, "by_depth": by_depth, "ratios": (he, glorot)}


if __name__ == "__main__":
    main()
