"""A real headless Chromium for the page tests, driven over the Chrome DevTools Protocol.

Chromium comes from the system's packages (Debian: ``apt-get install chromium``); tests that
need it call :func:`require_chromium`, which skips them, saying why, only where it is absent.
The protocol is spoken over one websocket with ``websocket-client`` (the "test" extra).

Every request the page makes is recorded (``Network.requestWillBeSent``), so a test can check
that nothing left the machine: :meth:`Chromium.external_requests`.

Also: :class:`TensorBoardServer`, a real TensorBoard server with the gradient-flow plugin on a
free localhost port, in a child process.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Flags for a quiet, offline headless Chromium: without the background-networking ones it
#: keeps trying to reach update and sync servers (refused connections, noise, delays).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium_path() -> str | None:
    """The system's Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium executable; skips the calling test where the system has none."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "no Chromium on this system (Debian: apt-get install -y chromium); the page tests "
            "need a real browser"
        )
    return path


class Chromium:
    """One headless Chromium with one page, driven through the DevTools Protocol.

    Example:
        >>> with Chromium(require_chromium()) as browser:               # doctest: +SKIP
        ...     browser.navigate("file:///tmp/page.html")
        ...     browser.evaluate("document.title")
    """

    def __init__(self, executable: str, width: int = 1200, height: int = 900):
        import websocket  # the "test" extra's websocket-client

        self._profile = tempfile.mkdtemp(prefix="kil-chromium-")
        self.process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self._profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t.get("type") == "page")
        self._socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self._next_id = 0
        self.events: list[dict] = []
        self.send("Network.enable")
        self.send("Page.enable")
        self.send("Runtime.enable")

    # ------------------------------------------------------------------ protocol
    def send(self, method: str, params: dict | None = None) -> dict:
        """Call one DevTools method and return its result (events meanwhile are kept)."""
        self._next_id += 1
        message_id = self._next_id
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true within {timeout} s: {expression}")
            time.sleep(0.2)

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """Save a PNG of the page (or of the element ``selector``, with a margin)."""
        params = {"format": "png"}
        if selector:
            box = self.evaluate(
                f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"
            )
            params["clip"] = {
                "x": max(0, box[0] - 8),
                "y": max(0, box[1] - 8),
                "width": box[2] + 16,
                "height": box[3] + 16,
                "scale": 1,
            }
        data = self.send("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def requested_urls(self) -> list[str]:
        """Every URL the page (and its frames) asked for so far."""
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        ]

    def external_requests(self) -> list[str]:
        """Requested URLs that would leave this machine (neither local, file:, data: nor blob:)."""
        outside = []
        for url in self.requested_urls():
            parsed = urllib.parse.urlsplit(url)
            if parsed.scheme in ("file", "data", "blob", "about", "chrome", "devtools"):
                continue
            if parsed.hostname in ("127.0.0.1", "localhost", "::1"):
                continue
            outside.append(url)
        return outside

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            try:
                self.send("Browser.close")
            except Exception:
                pass
            socket.close()
            self._socket = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_TENSORBOARD_SCRIPT = r"""
import sys, time
from tensorboard import default, program
from keras_init_lab.tensorboard_plugin import GradientFlowPlugin

# The plugin, whether or not the installed package already registered it by its entry point.
plugins = [p for p in default.get_plugins() if getattr(p, "plugin_name", None) != "gradient_flow"]
tb = program.TensorBoard(plugins=plugins + [GradientFlowPlugin])
tb.configure(argv=[None, "--logdir", sys.argv[1], "--host", "127.0.0.1", "--port", "0",
                   "--reload_interval", "1"])
print(tb.launch(), flush=True)
time.sleep(3600)
"""


class TensorBoardServer:
    """A TensorBoard process over ``log_dir`` on a free localhost port, with the plugin.

    Attributes:
        url: ``http://127.0.0.1:<port>/``.
    """

    def __init__(self, log_dir: Path):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _TENSORBOARD_SCRIPT, str(log_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.close()
            raise RuntimeError(f"TensorBoard did not start (printed {line!r})")
        self.url = line if line.endswith("/") else line + "/"

    def get_json(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=60) as reply:
            return json.load(reply)

    def wait_for_runs(self, stat: str, runs: int, timeout: float = 120.0) -> dict:
        """Wait until the plugin's data route sees ``runs`` runs with ``stat``."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.get_json(f"data/plugin/gradient_flow/profiles?stat={stat}")
            if len(body["runs"]) >= runs:
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"TensorBoard shows {sorted(body['runs'])} after {timeout} s")
            time.sleep(0.5)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> TensorBoardServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
