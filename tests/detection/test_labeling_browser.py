"""The box labeller in a real browser: JupyterLab in headless Chromium renders the widget, and a box
drawn with the mouse reaches the label file on disk.

A JupyterLab server (a subprocess, a temporary root folder, a free port, a token) opens a small
generated notebook that builds ``labeling.labeller_widget`` for one image; the test drives Chromium
over the DevTools protocol (``tests/site_browser.py``), runs the notebook, checks that the widget's
image and drawing surface are on the page, drags a box with synthetic mouse events, presses Submit,
and reads the YOLO label file back. Skipped, with the reason, without Chromium, JupyterLab,
websocket-client or jupyter-bbox-widget.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import site_browser  # noqa: E402  (test helper in tests/)

from course_utils.detection import formats  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 200, 150
#: The drag in image pixels (the image is shown at its natural size): from (x1, y1) to (x2, y2).
DRAG = (30, 40, 110, 100)


def _require() -> str:
    missing = [(m, why) for m, why in (("jupyterlab", "JupyterLab (the [course] extra)"),
                                        ("websocket", "websocket-client (the [site] extra)"),
                                        ("jupyter_bbox_widget", "jupyter-bbox-widget (the [label] extra)"))
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{missing[0][1]} is not installed")
    binary = site_browser.find_browser()
    if binary is None:
        pytest.skip(f"no Chromium on this machine: {site_browser.INSTALL_HINT}")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(folder: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    images = folder / "images"
    images.mkdir()
    Image.fromarray(np.full((HEIGHT, WIDTH), 220, np.uint8)).save(images / "board.png")
    source = (f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
              "from course_utils.detection import labeling\n"
              f"session = labeling.LabelSession.from_folder({str(images)!r})\n"
              f"widget = labeling.labeller_widget(session, 0, label_dir={str(folder / 'labels')!r})\n"
              "widget")
    nb = new_notebook(cells=[new_code_cell(source)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = folder / "labeller.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free port serving ``tmp_path``; yields (the test notebook's URL, Chromium)."""
    binary = _require()
    _write_notebook(tmp_path)
    port, token = _free_port(), "labeller-test"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / ".settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / ".workspaces")}
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield f"{base}/lab/tree/labeller.ipynb?token={token}", binary
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_for(browser, expression: str, timeout: float, what: str):
    """Poll a page expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(expression)
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} not seen within {timeout} s")


# the notebook panel (made the current widget) once its kernel is idle
NOTEBOOK_READY = ("(() => { const app = window.jupyterapp; if (!app) return false;"
                  " const panel = Array.from(app.shell.widgets('main')).find(w => w.sessionContext);"
                  " const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;"
                  " if (!kernel || kernel.status !== 'idle') return false;"
                  " app.shell.activateById(panel.id); return true; })()")
# the widget's own image and drawing surface inside the cell's output (jupyter-bbox-widget's DOM)
WIDGET = ("(() => { const img = document.querySelector('.jp-OutputArea-output img');"
          " const svg = img && img.closest('.image').querySelector('svg');"
          " if (!img || !svg || !img.complete || !img.naturalWidth) return null;"
          " img.scrollIntoView({block: 'center'}); const r = img.getBoundingClientRect();"
          " return {natural: [img.naturalWidth, img.naturalHeight], rect: [r.left, r.top, r.width, r.height],"
          " classes: [...document.querySelectorAll('.jp-OutputArea-output .class-label')].map(e => e.textContent.trim()),"
          " rects: svg.querySelectorAll('rect').length}; })()")


def test_widget_renders_and_a_drawn_box_reaches_the_label_file(jupyterlab, tmp_path):
    url, binary = jupyterlab
    with site_browser.Chromium(binary) as browser:
        browser.load(url)
        _wait_for(browser, NOTEBOOK_READY, 60, "the notebook with an idle kernel")
        browser.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => true)")
        shown = _wait_for(browser, WIDGET, 60, "the labeller widget (image and drawing surface)")
        assert shown["natural"] == [WIDTH, HEIGHT]
        assert any("open" in c for c in shown["classes"]) and any("pin-hole" in c for c in shown["classes"])
        assert shown["rects"] == 0                      # no boxes yet
        left, top, width, height = shown["rect"]
        sx, sy = width / WIDTH, height / HEIGHT         # screen pixels per image pixel (1 at natural size)
        x1, y1, x2, y2 = DRAG
        mouse = dict(button="left", clickCount=1)
        events = [("mouseMoved", 0, {}), ("mousePressed", 0, dict(buttons=1, **mouse))]
        events += [("mouseMoved", f, dict(button="left", buttons=1)) for f in (0.25, 0.5, 0.75, 1.0)]
        events += [("mouseReleased", 1.0, dict(buttons=0, **mouse))]
        for kind, f, extra in events:      # a human pace: the widget attaches its resize handler after the press
            browser.send("Input.dispatchMouseEvent", type=kind, x=left + (x1 + f * (x2 - x1)) * sx,
                         y=top + (y1 + f * (y2 - y1)) * sy, **extra)
            time.sleep(0.1)
        drawn = _wait_for(browser, "(() => { const r = [...document.querySelectorAll("
                                   "'.jp-OutputArea-output .image svg rect')].map(e => e.getBBox())"
                                   ".filter(b => b.width > 10); return r.length ? [r[0].width, r[0].height] : null; })()",
                          10, "the drawn box on the page")
        assert drawn == pytest.approx([(x2 - x1) * sx, (y2 - y1) * sy], abs=3)
        browser.evaluate("[...document.querySelectorAll('.jp-OutputArea-output button')]"
                         ".find(b => b.textContent.includes('Submit')).click() || true")
        label_file = tmp_path / "labels" / "board.txt"
        deadline, boxes = time.monotonic() + 20, np.zeros((0, 4))
        while time.monotonic() < deadline:   # autosave writes each edit; wait for the finished drag
            if label_file.is_file():
                boxes, labels = formats.read_yolo_labels(label_file, WIDTH, HEIGHT)
                if len(boxes) and boxes[0, 2] - boxes[0, 0] > 10:
                    break
            time.sleep(0.25)
    assert label_file.is_file(), "no label file was written: " + (tmp_path / "jupyterlab.log").read_text()[-2000:]
    assert labels.tolist() == [1]                       # the widget's default class, open
    np.testing.assert_allclose(boxes[0], DRAG, atol=2)  # the mouse drag, in image pixels
