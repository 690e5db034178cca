"""The "gradient flow" TensorBoard plugin: per-layer statistics against the layer index.

TensorBoard loads it through the ``tensorboard_plugins`` entry point of the package
(``setup.cfg``), so ``tensorboard --logdir logs`` shows a "gradient flow" tab once the package
is installed. The tab is an ES module (``static/index.js``) that TensorBoard runs in an iframe
at ``/data/plugin_entry.html?name=gradient_flow``; everything it loads comes from this plugin's
routes (no network, no CDN). It reads the scalars the callbacks already wrote, through
TensorBoard's data provider (``plugin_name="scalars"``), so it works on existing logs.

Routes, under ``/data/plugin/gradient_flow``:

* ``/index.js``, ``/static/<file>``: the frontend (ES modules, a style sheet);
* ``/statistics``: the statistics the plugin knows (:data:`profiles.STATISTICS`), which runs
  have each of them, the verdict words, thresholds and colours of ``propagate``;
* ``/profiles?stat=<key>[&run=<run>...]``: per run, the layers from input to output, the
  recorded steps and the values per step and layer, the source of the layer order, and per
  step the end-to-end change over the depth with its verdict (:func:`profiles.build_profiles`).

Example:
    >>> # tensorboard --logdir logs     (the package installed: the tab appears by itself)
    >>> from tensorboard import program, default                                 # doctest: +SKIP
    >>> plugins = default.get_plugins() + [GradientFlowPlugin]                   # doctest: +SKIP
    >>> tb = program.TensorBoard(plugins=plugins)                                # doctest: +SKIP

Reference:
    TensorBoard's dynamic plugins (``tensorboard/plugins/base_plugin.py``,
    ``tensorboard/examples/plugins/example_raw_scalars`` in
    https://github.com/tensorflow/tensorboard).
"""

from __future__ import annotations

import functools
import json
import math
import mimetypes
from pathlib import Path

from tensorboard import context as tb_context
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from werkzeug import wrappers

from keras_init_lab.tensorboard_plugin.profiles import (
    STATISTICS,
    build_profiles,
    depth_verdict,
    get_statistic,
    layers_of,
    layout_layer_order,
    suffix_of,
)

__all__ = ["PLUGIN_NAME", "GradientFlowPlugin", "verdict_facts"]

#: The plugin's name: its routes live under ``/data/plugin/gradient_flow``.
PLUGIN_NAME = "gradient_flow"

#: The frontend files, served by the plugin itself.
STATIC_DIR = Path(__file__).parent / "static"

#: Scalars read per time series when TensorBoard was given no ``--samples_per_plugin`` for
#: scalars: the scalars dashboard's own default (``_DEFAULT_DOWNSAMPLING`` in
#: ``tensorboard/plugins/scalar/scalars_plugin.py``).
DEFAULT_DOWNSAMPLING = 1000

#: Run colours of the frontend: matplotlib's "tab10" cycle without its green, orange, red,
#: blue and cyan, which are the verdict colours (``plots.experiments.VERDICT_COLOURS``), then
#: darker shades. A run is never drawn in a verdict's colour.
RUN_COLOURS = (
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)


def _json(request, body, code=200):
    text = json.dumps(body, allow_nan=False)
    return http_util.Respond(request, text, "application/json", code=code)


@functools.cache
def verdict_facts() -> dict:
    """Thresholds, words, meanings, colours and severity of ``propagate``'s verdicts.

    One source for the plugin and the explorable page: ``propagation.STABLE_FACTOR``,
    ``EXTREME_FACTOR``, ``VERDICTS``, ``VERDICT_MEANINGS``, the order in which two directions'
    verdicts combine (``propagation._SEVERITY``: the one further from "stable" names the
    setting) and the report's ``plots.experiments.VERDICT_COLOURS``.

    Returns:
        ``{"stable_factor", "extreme_factor", "words", "meanings", "colours", "severity"}``.
    """
    from keras_init_lab.experiments.propagation import (
        _SEVERITY,
        EXTREME_FACTOR,
        STABLE_FACTOR,
        VERDICT_MEANINGS,
        VERDICTS,
    )
    from keras_init_lab.plots.experiments import VERDICT_COLOURS

    return {
        "stable_factor": STABLE_FACTOR,
        "extreme_factor": EXTREME_FACTOR,
        "words": list(VERDICTS),
        "meanings": dict(VERDICT_MEANINGS),
        "colours": dict(VERDICT_COLOURS),
        "severity": dict(_SEVERITY),
    }


def _change(row, statistic) -> float | None:
    """``end / start`` of one step's profile, start at the anchor layer (``None``: no value)."""
    if statistic.anchor is None or len(row) < 2:
        return None
    start, end = (row[0], row[-1]) if statistic.anchor == "first" else (row[-1], row[0])
    if start is None or end is None:
        return None
    if statistic.log10_values:
        exponent = end - start
        return 10.0**exponent if exponent < 308 else math.inf
    if start <= 0:
        return None
    return end / start


class GradientFlowPlugin(base_plugin.TBPlugin):
    """Per-layer statistics of the selected runs against the layer index, per step.

    Formula: for statistic ``s`` (:data:`profiles.STATISTICS`) and run ``r``, the profile
    at step ``t`` is ``[tag <l_1>/<suffix>, ..., tag <l_L>/<suffix>]`` at ``t`` (squared
    for the activation variance), layers from the input to the output; the verdict is
    :func:`profiles.depth_verdict` of ``end / start`` from the anchor layer.

    Example:
        >>> context = base_plugin.TBContext(data_provider=provider)  # doctest: +SKIP
        >>> plugin = GradientFlowPlugin(context)  # doctest: +SKIP
        >>> profiles = plugin.profiles_impl(ctx, "", "gradient_norm")  # doctest: +SKIP
        >>> profiles["runs"]["train"]["layers"]  # doctest: +SKIP
        ['dense', 'dense_1', 'output']

    Args:
        context: TensorBoard's ``base_plugin.TBContext`` (its ``data_provider`` is read).
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = context.data_provider
        self._downsample_to = (context.sampling_hints or {}).get(
            scalar_metadata.PLUGIN_NAME
        ) or DEFAULT_DOWNSAMPLING

    # ------------------------------------------------------------------ TensorBoard API
    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index,
            "/static/*": self._serve_static,
            "/statistics": self._serve_statistics,
            "/profiles": self._serve_profiles,
        }

    def is_active(self):
        """True when some run holds a tag of a statistic the plugin draws."""
        if self._data_provider is None:
            return False
        mapping = self._data_provider.list_scalars(
            tb_context.RequestContext(),
            experiment_id="",
            plugin_name=scalar_metadata.PLUGIN_NAME,
        )
        return any(self._available(mapping).values())

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="gradient flow")

    # ------------------------------------------------------------------ data
    @staticmethod
    def _available(mapping) -> dict:
        """``{run: [statistic keys it has]}`` from ``list_scalars``'s ``{run: {tag: ...}}``."""
        return {
            run: [s.key for s in STATISTICS if layers_of(tags, s)]
            for run, tags in sorted(mapping.items())
        }

    def _layouts(self, ctx, experiment) -> dict:
        """``{run: layer order}`` read from every run's custom-scalars layout."""
        data = self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=custom_scalar_metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(tags=[custom_scalar_metadata.CONFIG_SUMMARY_TAG]),
            downsample=1,
        )
        layouts = {}
        for run, tags in data.items():
            points = tags.get(custom_scalar_metadata.CONFIG_SUMMARY_TAG) or []
            if points:
                content = points[-1].numpy.item()
                layouts[run] = layout_layer_order(
                    content if isinstance(content, bytes) else content.encode()
                )
        return layouts

    def statistics_impl(self, ctx, experiment) -> dict:
        """The body of ``/statistics``."""
        mapping = self._data_provider.list_scalars(
            ctx, experiment_id=experiment, plugin_name=scalar_metadata.PLUGIN_NAME
        )
        available = self._available(mapping)
        return {
            "statistics": [
                {
                    "key": s.key,
                    "label": s.label,
                    "suffix": s.suffix,
                    "scale": s.scale,
                    "log10_values": s.log10_values,
                    "anchor": s.anchor,
                    "meaning": s.meaning,
                    "runs": [run for run, keys in available.items() if s.key in keys],
                }
                for s in STATISTICS
            ],
            "verdicts": verdict_facts(),
            "run_colours": list(RUN_COLOURS),
        }

    def profiles_impl(self, ctx, experiment, stat, runs=None) -> dict:
        """The body of ``/profiles``: see :func:`profiles.build_profiles`.

        Raises:
            ValueError: an unknown statistic (the closest names are listed).
        """
        statistic = get_statistic(stat)
        mapping = self._data_provider.list_scalars(
            ctx, experiment_id=experiment, plugin_name=scalar_metadata.PLUGIN_NAME
        )
        wanted = {
            run: [f"{layer}/{suffix_of(tags, statistic)}" for layer in layers_of(tags, statistic)]
            for run, tags in mapping.items()
            if (runs is None or run in runs) and layers_of(tags, statistic)
        }
        series = {run: {} for run in wanted}
        if wanted:
            data = self._data_provider.read_scalars(
                ctx,
                experiment_id=experiment,
                plugin_name=scalar_metadata.PLUGIN_NAME,
                downsample=self._downsample_to,
                run_tag_filter=provider.RunTagFilter(
                    runs=list(wanted), tags=sorted({t for ts in wanted.values() for t in ts})
                ),
            )
            for run, tags in data.items():
                for tag, points in tags.items():
                    if tag in wanted.get(run, ()):
                        series[run][tag] = [(p.step, p.value) for p in points]
        facts = verdict_facts()
        result = build_profiles(series, statistic, self._layouts(ctx, experiment))
        for profile in result.values():
            changes = [_change(row, statistic) for row in profile["values"]]
            profile["change"] = [c if c is None or math.isfinite(c) else None for c in changes]
            profile["verdict"] = [
                None
                if c is None
                else depth_verdict(c, facts["stable_factor"], facts["extreme_factor"])
                for c in changes
            ]
        return {"statistic": stat, "runs": result}

    # ------------------------------------------------------------------ routes
    @wrappers.Request.application
    def _serve_index(self, request):
        return self._file_response(request, "index.js")

    @wrappers.Request.application
    def _serve_static(self, request):
        name = request.path.rsplit("/static/", 1)[-1]
        return self._file_response(request, name)

    def _file_response(self, request, name):
        allowed = {path.name for path in STATIC_DIR.iterdir() if path.is_file()}
        if name not in allowed:  # also refuses "../", sub-folders and hidden names
            return http_util.Respond(request, f"Not found: {name}", "text/plain", code=404)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            content_type = "text/javascript"
        return http_util.Respond(
            request, (STATIC_DIR / name).read_bytes(), content_type=content_type
        )

    @wrappers.Request.application
    def _serve_statistics(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return _json(request, self.statistics_impl(ctx, experiment))

    @wrappers.Request.application
    def _serve_profiles(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        stat = request.args.get("stat", "gradient_norm")
        runs = request.args.getlist("run") or None
        try:
            body = self.profiles_impl(ctx, experiment, stat, runs)
        except ValueError as error:
            return _json(request, {"error": str(error)}, code=400)
        return _json(request, body)
