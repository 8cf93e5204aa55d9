"""The course website (python -m course_utils site): pages, bad runs, and a real browser.

Which run the full check uses: ``runs/smoke`` (what the README's main command, and so CI's main
step, writes) when it holds ``summary.json``, or the folder in ``$COURSE_SITE_RUN_DIR``. Without
either, the site is built from the un-executed notebooks and the test asserts that every page is
listed and marked as "missing output" (results are never faked). The browser checks run on that
site either way. Without Chromium or the ``[site]`` extra the tests are skipped with the install
command, except in CI (``CI=true``), where they fail: CI installs both.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from course_utils import __main__ as cli
from course_utils.core import config
from course_utils.tools import nbtools, runner
from course_utils.tools import site as course_site

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import site_browser  # noqa: E402  (test helper beside this file)
from nbfiles import write_notebook  # noqa: E402

ROOT = config.repo_root()
IN_CI = os.environ.get("CI", "").lower() == "true"
SITE_MODULES = ("sphinx", "myst_nb", "furo", "mathjax", "websocket")


def _require(ok: bool, reason: str):
    if ok:
        return
    if IN_CI:
        pytest.fail(f"CI must run the site checks: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site_extra():
    missing = [m for m in SITE_MODULES if importlib.util.find_spec(m) is None]
    _require(not missing, f"{', '.join(missing)} not installed: pip install -e \".[site]\"")


@pytest.fixture(scope="module")
def browser_binary(site_extra):
    binary = site_browser.find_browser()
    _require(binary is not None, f"no Chromium on this machine: {site_browser.INSTALL_HINT}")
    return binary


# ---------------------------------------------------------------------------
# Without Sphinx: the schedule, links, the run folder
# ---------------------------------------------------------------------------
def test_schedule_weeks_read_from_schedule_md():
    weeks = course_site.schedule_weeks((ROOT / "schedule.md").read_text(encoding="utf-8"))
    assert sorted(weeks) == list(range(1, 16))
    assert weeks[1] == ["00_setup_cuda"]
    assert weeks[2] == ["01_dataset_exploration", "08_opencv_visualization"]
    assert weeks[9] == ["07_metrics_evaluation", "13_pcb_detection_data"]
    assert weeks[15] == ["18_yolo_comparison_export", "23_model_lightweighting"]


def test_links_point_at_staged_pages_and_nothing_remote_is_loaded():
    docs = {"datasets/README.md": "datasets.md", "notebooks/03_cnn.ipynb": "notebooks/03_cnn.ipynb"}
    text = ("[data](datasets/README.md) [nb](notebooks/03_cnn.ipynb#sec) [code](course_utils/) "
            "[web](https://example.org/x) ![badge](https://img.example/b.svg) [top](#top)")
    out = course_site._rewrite_links(text, "README.md", "index.md", docs)
    assert out == ("[data](datasets.md) [nb](notebooks/03_cnn.ipynb#sec) code "
                   "[web](https://example.org/x) badge [top](#top)")
    # from a page one folder down, the same target is one level up
    assert course_site._rewrite_links("[d](../datasets/README.md)", "notebooks/x.md", "notebooks/x.md", docs) == \
        "[d](../datasets.md)"


PARAMS = ('SMOKE = True\nDEVICE = "auto"\nDATA_SOURCE = "synthetic"\nDATA_PATH = None\n'
          "OUTPUT_DIR = None\nSEED = 42\nEPOCHS = 1\n")


def _notebook(path, *sources):
    return write_notebook(path, *sources, params=PARAMS,
                          title="# 시험 노트북 (Test notebook)\n\n정밀도(Precision) $p = \\frac{TP}{TP+FP}$",
                          summary="## 요약 (Summary)")


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    """A real run of a good and a failing notebook; a third notebook is never run (missing)."""
    src = tmp_path_factory.mktemp("nbs")
    good = _notebook(src / "10_good.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
                     "print('EPOCHS', EPOCHS)")
    bad = _notebook(src / "11_bad.ipynb", "y = 2", "raise ValueError('deliberate failure')", "print('never')")
    missing = _notebook(src / "12_missing.ipynb", "z = 3")
    out = tmp_path_factory.mktemp("run")
    results, folder = runner.run_notebooks([str(good), str(bad)], smoke=False, device="cpu", seed=3,
                                           extra={"EPOCHS": 4}, output_dir=out, jobs=2, echo=False)
    assert {r.notebook: r.status for r in results} == {"10_good": "ok", "11_bad": "failed"}
    return folder, [good, bad, missing]


def test_run_folder_statuses(bad_run):
    folder, sources = bad_run
    pages = {p.stem: p for p in course_site.inspect_run(folder, sources)}
    assert pages["10_good"].status == "ok" and pages["10_good"].executed == str(folder / "10_good.ipynb")
    assert pages["11_bad"].status == "failed"
    assert "ValueError" in pages["11_bad"].detail and "deliberate failure" in pages["11_bad"].detail
    assert pages["12_missing"].status == "missing" and pages["12_missing"].executed is None
    assert "12_missing" in pages["12_missing"].detail
    # no run folder at all: every page is missing
    assert {p.status for p in course_site.inspect_run(None, sources)} == {"missing"}


def test_bad_run_is_listed_first_and_on_its_pages(bad_run, site_extra, tmp_path):
    folder, sources = bad_run
    result = course_site.build_site(folder, tmp_path / "site", notebooks=sources, jobs=1)
    text = course_site.format_site_summary(result)
    lines = text.splitlines()
    assert lines[0].startswith("MISSING OR FAILED (2)")
    assert lines[1].strip().startswith("11_bad: failed") and lines[2].strip().startswith("12_missing: missing")
    site = Path(result.out)
    summary = json.loads((site / "site-summary.json").read_text(encoding="utf-8"))
    assert [p["stem"] for p in summary["problems"]] == ["11_bad", "12_missing"]
    home = (site / "index.html").read_text(encoding="utf-8")
    article = home[home.index("<article"):]
    assert article.index("11_bad") < article.index("12_missing") < article.index('id="notebooks"')  # at the top
    pages = {p.stem: (site / "notebooks" / f"{p.stem}.html").read_text(encoding="utf-8") for p in map(Path, sources)}
    assert "실행 실패" in pages["11_bad"] and "deliberate failure" in pages["11_bad"]
    assert "실행 결과 없음" in pages["12_missing"]
    for html in [home, *pages.values()]:
        assert "Traceback" not in html and "most recent call last" not in html
    good = pages["10_good"]
    assert "실행 결과 (executed)" in good and "EPOCHS 4" in good  # the run's output, not the default
    assert "<code>EPOCHS</code></td><td><code>4</code></td><td>injected by the run" in good
    assert "<code>SEED</code></td><td><code>3</code></td><td>injected by the run" in good
    images = list((site / "_images").glob("*.png"))
    assert images and all(f"_images/{i.name}" in good for i in images)  # the plot, from the executed copy


def test_cli_refuses_bad_folders(site_extra, tmp_path, capsys):
    assert cli.main(["site", "--run-dir", str(tmp_path / "nope"), "--output", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "--run-dir" in err and "python -m course_utils run" in err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert cli.main(["site", "--run-dir", "none", "--output", str(busy)]) == 2
    assert "--output" in capsys.readouterr().err and (busy / "keep.txt").is_file()


# ---------------------------------------------------------------------------
# The whole site
# ---------------------------------------------------------------------------
def _run_dir() -> Path | None:
    if os.environ.get("COURSE_SITE_RUN_DIR"):
        return Path(os.environ["COURSE_SITE_RUN_DIR"])
    smoke = ROOT / course_site.DEFAULT_RUN_DIR
    return smoke if (smoke / "summary.json").is_file() else None


@pytest.fixture(scope="module")
def built_site(site_extra, tmp_path_factory):
    run_dir = _run_dir()
    out = tmp_path_factory.mktemp("site") / "html"
    result = course_site.build_site(run_dir, out)
    print(course_site.format_site_summary(result))
    return result, run_dir


def test_every_notebook_and_solution_has_a_page(built_site):
    result, run_dir = built_site
    site = Path(result.out)
    sources = nbtools.notebook_paths(solutions=True)
    for folder in ("notebooks", "solutions"):
        assert {p.stem for p in (site / folder).glob("*.html")} == {s.stem for s in sources if s.parent.name == folder}
    for name in ("index", "schedule", "glossary", "datasets", "search"):
        assert (site / f"{name}.html").is_file()
    schedule = (site / "schedule.html").read_text(encoding="utf-8")
    for stems in course_site.schedule_weeks((ROOT / "schedule.md").read_text(encoding="utf-8")).values():
        assert all(f'href="notebooks/{s}.html"' in schedule for s in stems)
    # what is missing or failed, worked out here from the run folder itself
    records = {}
    if run_dir and (run_dir / "summary.json").is_file():
        records = {r["notebook"]: r["status"] for r in json.loads((run_dir / "summary.json").read_text())}
    expected = {s.stem for s in sources
                if run_dir is None or not (run_dir / s.name).is_file() or records.get(s.stem, "ok") != "ok"}
    assert {p["stem"] for p in result.problems} == expected
    for source in sources:
        html = (site / source.parent.name / f"{source.stem}.html").read_text(encoding="utf-8")
        assert "Traceback" not in html and "most recent call last" not in html
        assert f"/blob/{config.REPO_BRANCH}/{source.parent.name}/{source.name}" in html  # Open in Colab
        assert (site / "ipynb" / source.parent.name / source.name).is_file()
        marker = "실행 결과 (executed)" if source.stem not in expected else "⚠"
        assert marker in html, f"{source.stem}: no run status on the page"


SEARCH_RESULTS = """new Promise(done => { const t0 = Date.now(); const poll = () => {
    const summary = document.querySelector('#search-results .search-summary');  // set when the search is done
    const links = [...document.querySelectorAll('#search-results li a')].map(a => a.href);
    if ((summary && /\\d/.test(summary.textContent)) || Date.now() - t0 > 20000) done(links);
    else setTimeout(poll, 200); }; poll(); })"""


def test_site_in_headless_chromium(built_site, browser_binary):
    result, _ = built_site
    site = Path(result.out)
    server = site_browser.SiteServer(site)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    ids, anchors, math_pages, problems = {}, [], 0, []
    try:
        with site_browser.Chromium(browser_binary) as browser:
            for page in pages:
                errors = browser.load(server.url + page)
                math = browser.evaluate(site_browser.MATH_FACTS)
                facts = browser.evaluate(site_browser.PAGE_FACTS)
                problems += [f"{page}: {e}" for e in errors]
                problems += [f"{page}: broken image {src}" for src in facts["broken_images"]]
                problems += [f"{page}: remote resource {url}" for url in facts["remote"]]
                if "Traceback (most recent call last)" in facts["text"]:
                    problems.append(f"{page}: shows a traceback")
                if math["math"]:
                    math_pages += 1
                    if math["typeset"] < math["math"] or math["errors"] or math["raw"]:
                        problems.append(f"{page}: math not typeset {math}")
                ids[page] = set(facts["ids"])
                for link in facts["links"]:
                    parts = urlsplit(link)
                    if link.startswith(server.url):
                        target = unquote(parts.path)[1:] or "index.html"
                        if target.endswith("/"):
                            target += "index.html"
                        if not (site / target).is_file():
                            problems.append(f"{page}: broken link {link}")
                        elif parts.fragment and target.endswith(".html"):
                            anchors.append((page, target, unquote(parts.fragment)))
            for page in ("glossary.html", next(p for p in pages if p.startswith("notebooks/"))):
                browser.load(server.url + page)
                hangul = browser.evaluate(site_browser.HANGUL_CHECK)
                assert hangul and not any(hangul["same_as_box"]) and hangul["distinct"] == 3, (page, hangul)
            math_page = next(p for p in pages if p.startswith("notebooks/"))
            for base in (server.url, site.as_uri() + "/"):  # served, and opened as files
                errors = browser.load(base + "search.html?q=" + "정밀도")
                found = browser.evaluate(SEARCH_RESULTS)
                assert any(link.split("?")[0].endswith("/glossary.html") for link in found), (base, found)
                errors += browser.load(base + math_page)
                assert not errors, (base, errors)
            shots = ROOT / "runs" / "site-shots"
            browser.load(server.url + "index.html")
            browser.screenshot(shots / "home.png")
            notebook = "notebooks/07_metrics_evaluation.html" if "notebooks/07_metrics_evaluation.html" in pages \
                else next(p for p in pages if p.startswith("notebooks/"))
            browser.load(server.url + notebook)
            browser.evaluate(site_browser.MATH_FACTS)
            browser.screenshot(shots / "notebook.png")
            if browser.evaluate("!!document.querySelector('article img')"):  # the run's first figure
                browser.evaluate("window.scrollTo({top: window.scrollY + document.querySelector('article img')"
                                 ".getBoundingClientRect().top - 150, behavior: 'instant'})")  # furo scrolls smoothly
                browser.screenshot(shots / "notebook-figure.png")
            assert (shots / "home.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        server.close()
    problems += [f"{page}: link to missing anchor {target}#{frag}" for page, target, frag in anchors
                 if frag not in ids.get(target, set())]
    assert not problems, "\n".join(problems[:30])
    assert math_pages >= 1, "no page has math: the math check checked nothing"


def test_hangul_check_sees_boxes_without_a_hangul_font(built_site, browser_binary, tmp_path):
    """The rendered-text check itself: with only fonts that lack Hangul, it must report boxes."""
    listed = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True)
    korean = subprocess.run(["fc-list", ":lang=ko", "--format", "%{file}\n"], capture_output=True, text=True)
    latin = sorted(set(listed.stdout.split()) - set(korean.stdout.split()))
    _require(listed.returncode == 0 and latin, "fontconfig lists no font without Hangul (fc-list)")
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for i, path in enumerate(latin[:20]):
        (fonts / f"{i}{Path(path).suffix}").symlink_to(path)
    conf = tmp_path / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig><dir>{fonts}</dir>'
                    f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    server = site_browser.SiteServer(built_site[0].out)
    try:
        with site_browser.Chromium(browser_binary, env={"FONTCONFIG_FILE": str(conf)}) as browser:
            browser.load(server.url + "glossary.html")
            hangul = browser.evaluate(site_browser.HANGUL_CHECK)
    finally:
        server.close()
    assert all(hangul["same_as_box"]) and hangul["distinct"] == 1, hangul
