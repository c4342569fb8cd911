"""A minimal headless-Chromium driver over the DevTools protocol, standard library only.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from file descriptor 3 and writes replies
and events to descriptor 4, as NUL-terminated JSON; no websocket, no driver binary and no extra package are needed.
The report's tests (tests/report/test_html.py) and its benchmark (report_scale.py) use it to open a report, click,
read the DOM, collect console errors and take screenshots; it is not part of the package. Only what those need is
here.
"""

import base64
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")


class BrowserError(RuntimeError):
    """Chromium could not be started, a command failed, or a wait timed out."""


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome executable (``$CHROMIUM`` first), or None."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


class Chromium:
    """One headless Chromium with one page; use as a context manager.

    Attributes:
        errors: console errors, uncaught exceptions and failed loads (e.g. a missing image) seen so far.
    """

    def __init__(self, executable: str | None = None, width: int = 1400, height: int = 900, timeout: float = 60.0):
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError("no chromium executable found (install Debian's 'chromium' or set $CHROMIUM)")
        self.timeout = timeout
        self.errors: list[str] = []
        self.profile = tempfile.mkdtemp(prefix="semfuse-chromium-")
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def descriptors() -> None:  # in the child: the protocol wants exactly fds 3 and 4
            low_in, low_out = os.dup(to_browser), os.dup(from_browser)
            os.dup2(low_in, 3)
            os.dup2(low_out, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=descriptors, close_fds=False)  # only 0-4 survive exec: Python's pipes are non-inheritable
        os.close(to_browser)
        os.close(from_browser)
        self._ids = itertools.count(1)
        self._messages: "queue.Queue[dict | None]" = queue.Queue()
        self._pending: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._replies, "rb", buffering=0) as stream:
            while chunk := stream.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._messages.put(json.loads(message))
        self._messages.put(None)

    def _note(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(arg.get("value", arg.get("description")))
                                                      for arg in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        self._pending.append(message)

    def _next(self, deadline: float) -> dict:
        try:
            message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise BrowserError(f"chromium did not answer within {self.timeout:.0f} s") from None
        if message is None:
            raise BrowserError("chromium exited")
        return message

    def send(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        """Send one protocol command (to the page when ``session``) and return its result."""
        identifier = next(self._ids)
        command = {"id": identifier, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = self.session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._next(deadline)
            if message.get("id") != identifier:
                self._note(message)
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error'].get('message')}")
            return message.get("result", {})

    def wait_for_event(self, method: str) -> dict:
        """Wait for the page event ``method`` (seen since the last wait, or arriving now); returns its params."""
        deadline = time.monotonic() + self.timeout
        while True:
            for index, message in enumerate(self._pending):
                if message.get("method") == method:
                    del self._pending[: index + 1]
                    return message.get("params", {})
            self._note(self._next(deadline))

    def open(self, path: str | Path) -> float:
        """Load a local file and wait for its load event; returns the seconds from navigation to load."""
        self._pending.clear()
        start = time.perf_counter()
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=True)
        self.wait_for_event("Page.loadEventFired")
        return time.perf_counter() - start

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float | None = None) -> None:
        """Poll a JavaScript expression until it is truthy."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def mouse(self, kind: str, x: float, y: float, buttons: int = 1, modifiers: int = 0) -> None:
        """A real mouse event at page coordinates: kind is 'mousePressed', 'mouseMoved' or 'mouseReleased'."""
        self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons,
                                               "clickCount": 1, "modifiers": modifiers}, session=True)

    def click(self, x: float, y: float) -> None:
        """Press and release the left button at page coordinates."""
        self.mouse("mousePressed", x, y)
        self.mouse("mouseReleased", x, y, buttons=0)

    def screenshot(self, path: str | Path, full_page: bool = False) -> Path:
        """Save a PNG of the viewport (or the whole page) to ``path``."""
        params: dict = {"format": "png"}
        if full_page:
            width, height = self.evaluate("[document.documentElement.scrollWidth, "
                                          "document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width, "height": height,
                                                            "scale": 1})
        data = self.send("Page.captureScreenshot", params, session=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        """Close the browser and delete its profile."""
        try:
            if self.process.poll() is None:
                close = {"id": next(self._ids), "method": "Browser.close"}
                os.write(self._commands, json.dumps(close).encode() + b"\0")
                self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._commands)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
