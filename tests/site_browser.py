"""Test-only helper: headless Chromium driven over the DevTools protocol, and a local HTTP server.

No browser build is downloaded: it runs the system's Chromium (Debian: ``apt-get install chromium
fonts-noto-cjk``) and talks to it with ``websocket-client`` (the ``[site]`` extra). Used by
tests/tools/test_site.py and benchmarks/bench_site.py.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install Debian's chromium and a Hangul font: apt-get install chromium fonts-noto-cjk"

# A Hangul word drawn on a canvas with the page's own font stack, beside an unassigned code point
# (U+0378, always the missing-glyph box): boxes would give identical bitmaps.
HANGUL_CHECK = r"""(() => {
  const scope = document.querySelector('article') || document.body;
  const el = [...scope.querySelectorAll('h1, p, li, td')].find(e => /[\uac00-\ud7a3]/.test(e.textContent));
  if (!el) return null;
  const font = getComputedStyle(el).fontFamily;
  const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 64;
  const g = canvas.getContext('2d');
  const draw = ch => {
    g.clearRect(0, 0, 64, 64); g.font = '40px ' + font; g.fillStyle = '#000'; g.textBaseline = 'top';
    g.fillText(ch, 4, 4);
    const alpha = []; const data = g.getImageData(0, 0, 64, 64).data;
    for (let i = 3; i < data.length; i += 4) alpha.push(data[i] > 127 ? 1 : 0);
    return alpha.join('');
  };
  const box = draw('\u0378');
  const glyphs = ['정', '밀', '도'].map(draw);
  return {font: font, text: el.textContent.slice(0, 40),
          same_as_box: glyphs.map(b => b === box), distinct: new Set(glyphs).size,
          ink: glyphs.map(b => b.split('1').length - 1), widths: ['정', '밀', '도', '\u0378'].map(
            c => { g.font = '40px ' + font; return g.measureText(c).width; })};
})()"""

PAGE_FACTS = r"""(() => ({
  title: document.title,
  broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  images: document.images.length,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  remote: performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin)),
  text: document.body.innerText,
}))()"""

MATH_FACTS = r"""new Promise(done => {
  const facts = () => ({
    math: document.querySelectorAll('.math.notranslate').length,
    typeset: document.querySelectorAll('span.MathJax, mjx-container').length,
    errors: document.querySelectorAll('.MathJax_Error, merror, mjx-merror').length,
    raw: [...document.querySelectorAll('.math.notranslate')].filter(
         e => !e.querySelector('span.MathJax, mjx-container')).length,
  });
  if (window.MathJax && MathJax.Hub) MathJax.Hub.Queue(() => done(facts()));
  else done(facts());
})"""


def find_browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


class SiteServer:
    """Serve a folder on 127.0.0.1 (a random free port) from a background thread."""

    def __init__(self, folder: str | Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Chromium:
    """One headless Chromium tab: ``load(url)`` returns the console errors of that page load."""

    def __init__(self, binary: str | None = None, env: dict | None = None, width: int = 1280, height: int = 900):
        import websocket

        binary = binary or find_browser()
        if binary is None:
            raise FileNotFoundError(f"no Chromium found ({', '.join(BROWSERS)}): {INSTALL_HINT}")
        self.profile = tempfile.mkdtemp(prefix="site-chromium-")
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-dev-shm-usage", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})})
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"{binary} did not start its DevTools server within 30 s")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def _wait_event(self, name: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == name for e in self.events):
                return
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(f"{name} not seen within {timeout} s")

    def load(self, url: str, settle: float = 0.2) -> list[str]:
        """Navigate to ``url``, wait for its load event; return its console errors and exceptions."""
        self.events = []
        self.send("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired")
        time.sleep(settle)
        self.evaluate("1")  # drains the events that arrived meanwhile
        errors = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e.get("method") == "Runtime.exceptionThrown":
                errors.append("exception: " + p["exceptionDetails"].get("exception", {}).get(
                    "description", p["exceptionDetails"].get("text", "")))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        return errors

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True,
                           timeout=30000)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path, full_page: bool = False) -> Path:
        params = {"format": "png"}
        if full_page:
            size = self.evaluate("[document.documentElement.scrollWidth, Math.min(document.documentElement."
                                 "scrollHeight, 6000)]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def close(self):
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
