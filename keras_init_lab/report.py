"""Markdown and self-contained HTML report assembled from experiment results.

The report reads only plain results (``PropagationResult``, ``CompareResult`` or their JSON
dicts; a comparison's runs as ``RunResult`` objects) and the PNGs already written next to it;
it never touches a model. Only the command line calls it: the experiments compute and
return results, and no experiments module imports this one. ``report.md`` links
the PNGs by relative path; ``report.html`` embeds them as base64 ``data:`` URIs, so the one
file can be mailed or uploaded on its own.

Example:
    >>> paths = write_report("logs/run1", propagation=prop, comparison=comp)   # doctest: +SKIP
    >>> sorted(paths)                                                           # doctest: +SKIP
    ['html', 'md']
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import os
import textwrap
from pathlib import Path
from typing import Any

from keras_init_lab._result_files import write_compare_files, write_propagation_files
from keras_init_lab.experiments.pairings import (
    COURSE_PAIRINGS,
    DEAD_UNITS_NOTE,
    TRAINING_MARGIN,
    course_pairings,
)
from keras_init_lab.experiments.training import RunResult
from keras_init_lab.experiments.verdicts import epoch_of

__all__ = [
    "COURSE_EXPECTATIONS",
    "demo_markdown",
    "format_pairings",
    "write_compare",
    "write_demo",
    "write_propagation",
    "write_report",
]

#: Lecture 002's summary table ("Resumen"): what the course expects of each pairing
#: (initializer, activation, grade, expectation); ``experiments.pairings`` checks each one.
COURSE_EXPECTATIONS = tuple(
    (init, act, grade, says) for init, act, grade, says, _ in COURSE_PAIRINGS
)
#: Column titles of the pairing table (report).
PAIRING_HEADER = ["pairing", "course says (lecture 002)", "measured", "mark", "why"]


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "inf" if value > 0 else "nan"
        return f"{100 * value:.0f}%" if percent else f"{value:.3g}"
    return str(value)


def _propagation_dict(result) -> dict | None:
    if result is None or isinstance(result, dict):
        return result
    return result.to_json()


def _comparison(result) -> tuple[dict, list[RunResult]] | None:
    """``(config, runs)`` of a ``CompareResult`` or of its JSON dict (runs as ``RunResult``)."""
    if result is None:
        return None
    if isinstance(result, dict):
        return result["config"], [RunResult.from_dict(run) for run in result["runs"]]
    return result.config, list(result.runs)


def _propagation_rows(prop: dict) -> tuple[list[str], list[list[str]]]:
    depth = prop["config"]["depth"]
    header = [
        "setting",
        "forward",
        f"fwd var x (layer 1 -> {depth})",
        "fwd gain/layer",
        "(predicted)",
        "backward",
        f"bwd var x (layer {depth} -> 1)",
        "bwd gain/layer",
        "(predicted)",
        "why",
    ]
    rows = []
    for s in prop["settings"]:
        fwd, bwd = s.get("forward") or {}, s.get("backward") or {}
        rows.append(
            [
                s["label"],
                s.get("forward_verdict", "-"),
                _fmt(fwd.get("change")),
                _fmt(fwd.get("gain_per_layer")),
                _fmt(fwd.get("predicted_gain_per_layer")),
                s.get("backward_verdict", "-"),
                _fmt(bwd.get("change")),
                _fmt(bwd.get("gain_per_layer")),
                _fmt(bwd.get("predicted_gain_per_layer")),
                s["reason"],
            ]
        )
    return header, rows


def _compare_rows(runs: list[RunResult]) -> tuple[list[str], list[list[str]]]:
    header = [
        "#",
        "run",
        "val accuracy",
        "val loss",
        "epochs to target",
        "grad norm first/last layer (start)",
        "dead (end)",
        "saturated (end)",
        "verdict",
    ]
    rows = []
    for r in runs:
        rows.append(
            [
                str(r.run),
                r.label,
                _fmt(r.final_accuracy, True),
                _fmt(r.final_loss),
                "never" if r.epochs_to_target is None else str(r.epochs_to_target),
                _fmt(r.grad_ratio_start),
                _fmt(r.dead_fraction_end, True),
                _fmt(r.saturated_fraction_end, True),
                r.verdict,
            ]
        )
    return header, rows


#: Column titles of the compare report's training-settings table.
SETTINGS_HEADER = [
    "#",
    "run",
    "optimizer",
    "learning rate",
    "batch size",
    "loss",
    "output activation",
    "L2",
    "weight decay",
    "dropout",
    "update/weight (median)",
    "update size vs ~1e-3",
]


def _settings_rows(runs: list[RunResult]) -> tuple[list[str], list[list[str]]]:
    """One row per run: the training axes and the update/weight ratio with its reading."""
    rows = []
    for r in runs:
        rows.append(
            [
                str(r.run),
                r.label,
                str(r.optimizer_config or r.optimizer or "-"),
                _fmt(r.learning_rate),
                "-" if r.batch_size is None else str(r.batch_size),
                _fmt(r.loss),
                _fmt(r.output_activation),
                _fmt(r.l2),
                _fmt(r.weight_decay),
                _fmt(r.dropout),
                _fmt(r.update_ratio),
                r.update_ratio_verdict or "-",
            ]
        )
    return SETTINGS_HEADER, rows


def _pairing_rows(rows: list[dict]) -> list[list[str]]:
    return [
        [
            r["pairing"],
            f"{r['course_grade']}: {r['course_says']}",
            r["measured"],
            r["mark"],
            r["reason"],
        ]
        for r in rows
    ]


def format_pairings(rows: list[dict]) -> str:
    """Text table of ``experiments.pairings.course_pairings``: one block per pairing.

    Example:
        >>> print(format_pairings(course_pairings(result.runs)))          # doctest: +SKIP

    Args:
        rows: the dicts ``course_pairings`` returns.

    Returns:
        The table as one string: a line ``pairing | course says | mark`` per pairing, then
        the reason, indented (it quotes the measured numbers that earn the mark; the
        Markdown report also has them in a column of their own).
    """
    lines = [f"{'pairing':<24} {'course says (lecture 002)':<46} mark", "-" * 80]
    for r in rows:
        says = f"{r['course_grade']}: {r['course_says']}"
        lines.append(f"{r['pairing']:<24} {says:<46} {r['mark'].upper()}")
        lines.extend(
            textwrap.wrap(
                r["reason"], 96, initial_indent="    why: ", subsequent_indent="         "
            )
        )
    return "\n".join(lines)


def _sentence(text) -> str:
    return f"{text[0].upper()}{text[1:]}. " if text else ""


def _takeaways(config: dict, runs: list[RunResult]) -> list[str]:
    lines = []
    learned = sorted(
        (r for r in runs if r.epochs_to_target is not None),
        key=lambda r: (r.epochs_to_target, -(r.final_accuracy or 0)),
    )
    if learned:
        first = learned[0].epochs_to_target
        tied = [r for r in learned if r.epochs_to_target == first]
        when = epoch_of(first, learned[0].history)
        finals = ", ".join(f"**{r.label}** (final {_fmt(r.final_accuracy, True)})" for r in tied)
        if len(tied) > 1:
            lines.append(
                f"Fastest to {config['target_accuracy']:.0%}: a tie at {when} between {finals}."
            )
        else:
            lines.append(f"Fastest to {config['target_accuracy']:.0%}: {finals}, at {when}.")
    for kind, text in (
        ("stuck", "Did not learn"),
        ("diverged", "Diverged"),
        ("slow", "Learned slowly"),
    ):
        names = [r.label for r in runs if r.verdict_kind == kind]
        if names:
            lines.append(f"{text} ({len(names)}/{len(runs)}): {', '.join(names)}.")
    symmetric = [r.label for r in runs if r.symmetric_start]
    if symmetric:
        lines.append(
            "Zero/constant starts (" + ", ".join(symmetric) + ") stay at chance: "
            "identical units get identical gradients, so symmetry never breaks."
        )
    return lines


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(clean(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]], verdict_column: int | None = None) -> str:
    out = [
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
    ]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            css = ""
            if i == verdict_column:
                word = str(cell).split(":")[0].strip().replace(" ", "-")
                css = f' class="v-{html.escape(word)}"'
            cells.append(f"<td{css}>{html.escape(str(cell))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _image_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3} img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
code,pre{background:#f6f8fa;padding:2px 4px;border-radius:3px}
.v-learns,.v-stable{background:#e6f4e6} .v-does-not-learn,.v-vanishing{background:#e8f0fb}
.v-diverged,.v-exploding{background:#fbe9e9} .v-learns-slowly{background:#fff6e0}
.v-agrees{background:#e6f4e6} .v-partly{background:#fff6e0} .v-disagrees{background:#fbe9e9}
.v-decaying,.v-growing{background:#fff6e0}
.note{color:#555;font-size:13px}
"""


def write_report(
    out_dir: str | os.PathLike,
    propagation=None,
    comparison=None,
    title: str = "keras-init-lab report",
    command: str | None = None,
    pairings: list[dict] | None = None,
) -> dict[str, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` from the given results.

    Beside them, ``explore.html`` (the explorable page, :mod:`keras_init_lab.explore`), which
    both reports link, as they give the TensorBoard command and its gradient flow tab.

    Expects the experiments' PNGs (``propagation.png``; ``loss_curves.png``,
    ``gradient_flow.png``, ``unit_fractions.png``) in ``out_dir``; a missing PNG is skipped
    with a note rather than failing the report.

    Example:
        >>> write_report("logs/run1", propagation=result)                  # doctest: +SKIP

    Args:
        out_dir: folder holding the PNGs; the reports are written there.
        propagation: a ``PropagationResult`` or its JSON dict, or ``None``.
        comparison: a ``CompareResult`` or its JSON dict (``{"config", "runs"}``), or ``None``.
        title: the report's heading.
        command: the command line that produced the results, quoted in the report.
        pairings: the rows of ``experiments.course_pairings`` for ``comparison`` (the command
            line computes them once and prints them too); ``None``: computed here.

    Returns:
        ``{"md": path, "html": path}``.

    Raises:
        ValueError: if both results are ``None``.
    """
    if propagation is None and comparison is None:
        raise ValueError(
            "write_report needs at least one result: pass propagation=... and/or comparison=...."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prop, comp = _propagation_dict(propagation), _comparison(comparison)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md: list[str] = [f"# {title}", "", f"Generated {stamp}."]
    body: list[str] = [f"<h1>{html.escape(title)}</h1>", f"<p class=note>Generated {stamp}.</p>"]
    if command:
        md += ["", f"Command: `{command}`"]
        body.append(f"<p>Command: <code>{html.escape(command)}</code></p>")

    def image(name: str, caption: str) -> None:
        path = out / name
        if path.is_file():
            md.extend(["", f"![{caption}]({name})"])
            body.append(
                f'<figure><img alt="{html.escape(caption)}" src="{_image_data_uri(path)}">'
                f"<figcaption class=note>{html.escape(caption)}</figcaption></figure>"
            )
        else:
            md.extend(["", f"*({name} was not produced.)*"])
            body.append(f"<p class=note>({html.escape(name)} was not produced.)</p>")

    if prop is not None:
        cfg = prop["config"]
        meanings = "; ".join(
            f"{word}: {text}" for word, text in (cfg.get("verdict_meanings") or {}).items()
        )
        intro = (
            f"A plain network of {cfg['depth']} layers x {cfg['width']} units, input "
            f"x ~ N(0, 1)^{cfg['input_dim']}, biases 0, least-squares loss to the target "
            f"0 (lecture 002, initialization, after Prince's UDL fig. 7.7). Forward: "
            f"{cfg['forward_quantity']}; backward: {cfg['backward_quantity']}; "
            f"{cfg['average']}. Prediction: {cfg['prediction']}. Gain: {cfg['gain']}. "
            f"Verdicts, per direction: {meanings}."
        )
        if cfg.get("note"):
            intro += f" Note: {cfg['note']}."
        header, rows = _propagation_rows(prop)
        md += ["", "## 1. Variance through depth", "", intro, "", _md_table(header, rows)]
        body += [
            "<h2>1. Variance through depth</h2>",
            f"<p>{html.escape(intro)}</p>",
            _html_table(header, rows, verdict_column=5),
        ]
        image(
            "propagation.png",
            "Forward and backward variance per layer (solid: measured, dotted: predicted)",
        )
    if comp is not None:
        cfg, runs = comp
        depths = ", ".join(str(d) for d in cfg.get("depths", []))
        chance = _sentence(cfg.get("chance_note") or "chance")[:-2]
        intro = (
            f"Same model and data for every run: {cfg['model'].upper()}, {depths} hidden "
            f"layers of width {cfg['width']}, {cfg['optimizer']}, {cfg['epochs']} epochs "
            f"of batch {cfg['batch_size']}, on {cfg['dataset_description']} "
            f"({cfg['n_train']} train / {cfg['n_test']} validation samples), seed "
            f"{cfg['seed']}. {_sentence(cfg.get('target_note'))}"
            f"{_sentence(cfg.get('scaling_note'))}{chance}: {cfg['chance_accuracy']:.0%}. "
            f"Gradient norms come from GradientStats at the first step of each epoch, "
            f"activation variance and dead/saturated fractions from ActivationStats on a "
            f"fixed probe batch."
        )
        number = 2 if prop is not None else 1
        header, rows = _compare_rows(runs)
        md += ["", f"## {number}. Initializer x activation", "", intro, "", _md_table(header, rows)]
        body += [
            f"<h2>{number}. Initializer x activation</h2>",
            f"<p>{html.escape(intro)}</p>",
            _html_table(header, rows, verdict_column=8),
        ]
        if runs and runs[0].optimizer is not None:
            header, rows = _settings_rows(runs)
            note = _sentence(cfg.get("update_ratio_note"))
            title = "**Training settings and update size per run**"
            md += ["", title, "", note.strip(), "", _md_table(header, rows)]
            body += [
                "<p><b>Training settings and update size per run</b></p>"
                f"<p>{html.escape(note)}</p>",
                _html_table(header, rows),
            ]
        takeaways = _takeaways(cfg, runs)
        if takeaways:
            md += ["", "**Takeaways**", ""] + [f"- {line}" for line in takeaways]
            body.append(
                "<p><b>Takeaways</b></p><ul>"
                + "".join(f"<li>{html.escape(line).replace('**', '')}</li>" for line in takeaways)
                + "</ul>"
            )
        if pairings is None:
            pairings = course_pairings(runs, target=cfg["target_accuracy"])
        header, rows = PAIRING_HEADER, _pairing_rows(pairings)
        if rows:
            md += [
                "",
                "**Lecture 002's summary table next to what was measured**",
                "",
                _md_table(header, rows),
            ]
            body += [
                "<p><b>Lecture 002's summary table next to what was measured</b></p>",
                _html_table(header, rows, verdict_column=3),
            ]
            image(
                "depth_profile.png",
                "At initialization: activation variance per hidden layer; during training: "
                "gradient-norm ratio first/last layer",
            )
        image("loss_curves.png", "Loss and validation accuracy per run")
        image("gradient_flow.png", "log10 gradient norm per layer at the first step")
        image("unit_fractions.png", "Dead and saturated unit fractions, start vs end")
        logdir = out / "tensorboard"
        if logdir.is_dir():
            md += ["", f"TensorBoard: `tensorboard --logdir {logdir}`. {_GRADIENT_FLOW_TAB}"]
            body.append(
                f"<p>TensorBoard: <code>tensorboard --logdir {html.escape(str(logdir))}</code>. "
                f"{html.escape(_GRADIENT_FLOW_TAB)}</p>"
            )
    _link_explore_page(out, md, body)
    paths = {"md": out / "report.md", "html": out / "report.html"}
    paths["md"].write_text("\n".join(md) + "\n")
    paths["html"].write_text(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return paths


#: What the report says about the TensorBoard tab the package installs.
_GRADIENT_FLOW_TAB = (
    "Its gradient flow tab draws each run's per-layer gradient norm, activation variance, "
    "update ratio and dead or saturated fraction against the layer index, step by step."
)


def _link_explore_page(out: Path, md: list[str], body: list[str]) -> None:
    """Write the explorable page beside the report and link it from both reports."""
    from keras_init_lab.explore import write_page

    write_page(out / "explore.html")
    text = (
        "one offline page with sliders for depth, width, weight variance or initializer, "
        "activation and bias: the forward and backward variance per layer, mean field and a "
        "sampled network, in the verdict words above (also `keras-init-lab explore`)."
    )
    md += ["", f"Explorable page: [explore.html](explore.html), {text}"]
    body.append(
        '<p>Explorable page: <a href="explore.html">explore.html</a>, '
        f"{html.escape(text).replace('`', '')}</p>"
    )


def write_propagation(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``propagation.json`` and ``propagation.png`` into ``out_dir``; return their paths.

    Example:
        >>> write_propagation(propagate(depth=5), "logs/p")            # doctest: +SKIP
        {'json': PosixPath('logs/p/propagation.json'), 'png': PosixPath('logs/p/propagation.png')}

    Args:
        result: a ``PropagationResult``.
        out_dir: folder to write into (created if missing).

    Returns:
        ``{"json": path, "png": path}``.
    """
    return write_propagation_files(result, out_dir)


def write_compare(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv`` and the comparison PNGs; return their paths.

    ``results.csv``'s columns are ``experiments.compare.RESULT_COLUMNS`` (the ``RunResult``
    fields marked ``column``); ``results.json`` holds the config and every field of every run.

    Example:
        >>> sorted(write_compare(compare(quick=True), "logs/c"))          # doctest: +SKIP
        ['depth_profile', 'gradient_flow', 'loss_curves', 'results_csv', 'results_json',
         'unit_fractions']

    Args:
        result: a ``CompareResult``.
        out_dir: folder to write into (created if missing).

    Returns:
        ``{name: path}`` of every file written.
    """
    return write_compare_files(result, out_dir)


# ------------------------------------------------------------------------------- the demo

#: Column titles of the demo's table of lecture 002's rows (report and README).
DEMO_HEADER = ["pairing", "course says (lecture 002)", "at initialization", "in training", "mark"]


def _demo_dict(result) -> dict:
    """``DemoResult.to_json()``, or the dict itself (``demo.json`` read back)."""
    return result if isinstance(result, dict) else result.to_json()


def _pair_settings_sentence(data: dict) -> str:
    settings = data["settings"]
    parts = [
        f"{p['settings']['activation']}: {p['settings']['ideal']} vs {p['settings']['risky']}, "
        f"{p['settings']['depth']} hidden layers, "
        f"learning rate {p['settings']['learning_rate']:g}, "
        f"{p['settings']['epochs']} epochs"
        for p in data["pairs"]
    ]
    config = data["config"]
    return (
        f"MLP of width {settings['width']}, SGD with momentum {settings['momentum']:g}, batch "
        f"{settings['batch_size']}, on {config['dataset_description']}, inputs standardized "
        f"({config['n_train']} train / {config['n_test']} validation images; chance, always "
        f"the majority class: {config['chance_accuracy']:.0%}), seeds "
        f"{_seed_span(config['seeds'])}, "
        f"deterministic TensorFlow ops; " + "; ".join(parts)
    )


def _seed_span(seeds) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


def _demo_row_cells(row: dict) -> list[str]:
    init = f"{row['initialization_mark']}: {row['initialization']}"
    training = f"{row['training_mark']}: {row['training']}" if row["training"] else "not run"
    return [
        row["pairing"],
        f"{row['course_grade']}: {row['course_says']}",
        init,
        training,
        row["mark"] or "-",
    ]


def demo_markdown(result, figure: str | None = None) -> str:
    """The demo's results in Markdown: settings, the table of the four rows, the notes.

    The README's demo section is this text (``examples/make_readme_demo.py`` writes it between
    its markers), and ``report.md`` includes it.

    Example:
        >>> print(demo_markdown(json.loads(Path("demo.json").read_text())))  # doctest: +SKIP

    Args:
        result: a ``DemoResult`` or its JSON dict.
        figure: a path to the figure to link below the table, or ``None``.

    Returns:
        Markdown text ending with a newline.
    """
    data = _demo_dict(result)
    init = data["initialization"]["config"]
    seeds = len(data["config"]["seeds"])
    lines = [
        f"1. **At initialization**: the four pairings through lecture 002's net, "
        f"{init['depth']} hidden layers of {init['width']} units and nothing else (input "
        f"N(0, 1), no output layer), {init['n_trials']} weight draws x {init['n_samples']} "
        f"inputs, forward and backward variance end to end, measured and predicted by the "
        f"mean field (in parentheses), read with `propagate`'s bands (stable within 10x, "
        f"decaying / growing to 1000x, vanishing / exploding beyond).",
        f"2. **In training**: {_pair_settings_sentence(data)}. Validation accuracy at the end, "
        f"median of {seeds} seeds and their range; a pair's ideal pairing is ahead when its "
        f"median is at least {100 * TRAINING_MARGIN:.0f} points above the risky one's, a tie "
        f"within that.",
        "",
        _md_table(DEMO_HEADER, [_demo_row_cells(row) for row in data["rows"]]),
        "",
        f"Dead units, in both ReLU rows: {DEAD_UNITS_NOTE}.",
        "",
        f"Why these settings: width {data['settings']['width']}, the digits' 64 pixels, so "
        "every hidden layer is square and the two pairings of a pair differ only by the "
        "weights' variance (Glorot 1/64, He 2/64). "
        + " ".join(
            f"{p['settings']['activation']}: {p['settings']['why']}." for p in data["pairs"]
        ),
    ]
    missing = data["config"].get("left_out") or []
    if missing:
        lines += ["", "Not run here: " + "; ".join(missing) + "."]
    if figure:
        lines += [
            "",
            f"![The four pairings at initialization (variance per layer) and each pair in "
            f"training (validation accuracy per epoch)]({figure})",
        ]
    return "\n".join(lines) + "\n"


def _seed_rows(data: dict) -> tuple[list[str], list[list[str]]]:
    header = [
        "pairing",
        "layers",
        "seed",
        "accuracy at the end",
        "best (epoch)",
        "fwd var x at init",
        "bwd var x at init",
        "weights moved by the end",
    ]
    rows = []
    for pair in data["pairs"]:
        for run in pair["runs"]:
            accuracy = run["val_accuracy"]
            best = max(accuracy)
            rows.append(
                [
                    f"{run['initializer']} + {run['activation']}",
                    str(run["depth"]),
                    str(run["seed"]),
                    _fmt(accuracy[-1], True),
                    f"{_fmt(best, True)} ({accuracy.index(best) + 1})",
                    _fmt(run["forward_change_start"]),
                    _fmt(run["backward_change_start"]),
                    _fmt(run["weights_moved"]),
                ]
            )
    return header, rows


#: Why the demo's report has no TensorBoard command, and where to get one.
_DEMO_TENSORBOARD = (
    "TensorBoard: the demo writes no event files (each run is measured on a probe batch "
    "before and after training, with no callback in the fit); `keras-init-lab compare "
    "--out DIR` trains with GradientStats and ActivationStats and writes them under "
    "DIR/tensorboard, for TensorBoard's scalars and its gradient flow tab."
)


def write_demo(out_dir: str | os.PathLike, result, command: str | None = None) -> dict[str, Path]:
    """Write the demo's files into ``out_dir``: ``demo.json``, the figure and both reports.

    Example:
        >>> write_demo("logs/demo", run_demo(quick=True))                  # doctest: +SKIP

    Args:
        out_dir: folder to write into (created if missing).
        result: a ``DemoResult`` (or its JSON dict).
        command: the command line, quoted in the reports.

    Returns:
        ``{"json", "png", "md", "html"}`` paths; ``explore.html`` (the explorable page) is
        written beside them and linked from both reports.
    """
    import json

    from keras_init_lab.plots.demo import plot_demo

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = _demo_dict(result)
    paths = {"json": out / "demo.json"}
    paths["json"].write_text(json.dumps(data, indent=2, allow_nan=False))
    paths["png"] = plot_demo(data, out / "demo_pairings.png")
    title = "keras-init-lab demo: lecture 002's pairings"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"# {title}", "", f"Generated {stamp}."]
    if command:
        md += ["", f"Command: `{command}`"]
    md += ["", demo_markdown(data, figure=paths["png"].name).rstrip("\n")]
    prop_header, prop_rows = _propagation_rows(data["initialization"])
    seed_header, seed_rows = _seed_rows(data)
    md += [
        "",
        "## Part 1 in detail: at initialization",
        "",
        _md_table(prop_header, prop_rows),
        "",
        "## Part 2 in detail: every run",
        "",
        "Accuracy on the validation split; fwd var x: pre-activation variance of the last "
        "hidden layer over the first's; bwd var x: variance of the loss's gradient at the "
        "first hidden layer's pre-activations over the last's (both on a probe batch of 256 "
        "training images, at initialization); weights moved: median over hidden kernels of "
        "||W_end - W_start|| / ||W_start||.",
        "",
        _md_table(seed_header, seed_rows),
        "",
        _DEMO_TENSORBOARD,
    ]
    rows = [_demo_row_cells(row) for row in data["rows"]]
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=note>Generated {stamp}.</p>",
    ]
    if command:
        body.append(f"<p>Command: <code>{html.escape(command)}</code></p>")
    intro = demo_markdown(data).split("\n\n")[0]
    body += [
        "".join(f"<p>{html.escape(line)}</p>" for line in intro.split("\n")),
        _html_table(DEMO_HEADER, rows, verdict_column=4),
        f"<p>{html.escape(f'Dead units, in both ReLU rows: {DEAD_UNITS_NOTE}.')}</p>",
        f'<figure><img alt="demo figure" src="{_image_data_uri(paths["png"])}"></figure>',
        "<h2>Part 1 in detail: at initialization</h2>",
        _html_table(prop_header, prop_rows, verdict_column=1),
        "<h2>Part 2 in detail: every run</h2>",
        _html_table(seed_header, seed_rows),
        f"<p>{html.escape(_DEMO_TENSORBOARD).replace('`', '')}</p>",
    ]
    _link_explore_page(out, md, body)
    paths["md"] = out / "report.md"
    paths["md"].write_text("\n".join(md) + "\n")
    paths["html"] = out / "report.html"
    paths["html"].write_text(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return paths
