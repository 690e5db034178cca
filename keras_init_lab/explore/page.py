"""Write (and serve) the explorable page: one offline HTML file, its data embedded.

The page is ``page.html`` beside this module with two things put in: the data of
:func:`keras_init_lab.explore.data.explore_data` (JSON) and the chart code the TensorBoard
plugin also uses (``tensorboard_plugin/static/chart.js``, its ``export`` keywords dropped so
that it runs inline). Nothing is fetched when the page is opened: no URL is loaded, no font, no
script from elsewhere.

Example:
    >>> path = write_page("explore.html")                      # doctest: +SKIP
    >>> serve(path, port=8000)                                  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
from pathlib import Path

__all__ = ["build_page", "make_server", "serve", "write_page"]

_TEMPLATE = Path(__file__).with_name("page.html")
_CHART = Path(__file__).parents[1] / "tensorboard_plugin" / "static" / "chart.js"


def build_page(data: dict | None = None) -> str:
    """The page's HTML with ``data`` (default :func:`explore_data`) embedded.

    Example:
        >>> html = build_page()                                    # doctest: +SKIP
        >>> "const DATA = {" in html
        True

    Args:
        data: the embedded data; ``None`` computes it.

    Returns:
        The HTML text.
    """
    if data is None:
        from keras_init_lab.explore.data import explore_data

        data = explore_data()
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    chart = re.sub(r"^export ", "", _CHART.read_text(encoding="utf-8"), flags=re.MULTILINE)
    html = _TEMPLATE.read_text(encoding="utf-8")
    # "</" inside a script would close it; the JSON has none, but keep the guarantee.
    payload = payload.replace("</", "<\\/")
    size = f"{len(payload.encode('utf-8')) / 1024:.0f} kB of embedded tables"
    return (
        html.replace("/*__EXPLORE_DATA__*/null", payload, 1)
        .replace("/*__CHART_JS__*/", chart, 1)
        .replace("__DATA_SIZE__", size, 1)
    )


def write_page(path: str | os.PathLike = "explore.html", data: dict | None = None) -> Path:
    """Write the page to ``path`` (parent folders created) and return the path.

    Raises:
        TypeError: ``path`` is not a path.
        ValueError: ``path`` does not end in ``.html``.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a file path such as 'explore.html'; received {path!r}.")
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"The page is HTML: give a path ending in .html; received {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_page(data), encoding="utf-8")
    return path


def make_server(
    path: str | os.PathLike, port: int = 0, host: str = "127.0.0.1"
) -> tuple[http.server.ThreadingHTTPServer, str]:
    """An HTTP server for the folder of ``path`` (not started) and the page's URL.

    Args:
        path: the written page.
        port: TCP port (0: any free port).
        host: interface (default: this machine only).

    Returns:
        ``(server, url)``; call ``server.serve_forever()``, later ``server.shutdown()``.
    """
    path = Path(path).resolve()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    return server, f"http://{host}:{server.server_address[1]}/{path.name}"


def serve(path: str | os.PathLike, port: int = 0, host: str = "127.0.0.1") -> None:
    """Serve the folder of ``path`` and print the page's URL, until Ctrl-C.

    Args:
        path: the written page.
        port: TCP port (0: any free port).
        host: interface (default: this machine only).
    """
    server, url = make_server(path, port, host)
    print(f"serving {url} (Ctrl-C stops)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
