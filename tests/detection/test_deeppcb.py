"""The DeepPCB loader and downloader (course_utils.detection.deeppcb) on tiny hand-written folders in the data
set's own layout, without a network (issue 30: the survivors of mutation testing). The replica of the real
layout with twin images, the messages of bad annotation lines and the zip download are in
test_detection_data.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils.core import pretrained
from course_utils.detection import deeppcb
from course_utils.detection.pcb import PCB_CLASSES

from shared_data import DEEPPCB_SAMPLE, needs_deeppcb_sample

SAMPLE, needs_sample = DEEPPCB_SAMPLE, needs_deeppcb_sample

#: The public repository, as its README names it (written out here, not read from the module).
REPO_URL = "https://github.com/tangsanli5201/DeepPCB.git"
NAMES = ("00041030", "00041059", "13000001", "13000007", "20085002", "20085009", "44000011", "44000020")
HEIGHT, WIDTH = 32, 48  # not square: a box at x = 45 fits the width but not the height


def boxes_of(k: int) -> list[list[int]]:
    """The annotation lines ``x1 y1 x2 y2 type`` of pair ``k``: a box moving with k, and one at the right edge."""
    return [[k + 1, 2, k + 11, 12, k % 6 + 1], [40, 20, 45, 30, 6]]


def write_pcbdata(data: Path, names=NAMES, split: str = "trainval") -> list[str]:
    """A tiny ``PCBData`` folder: per pair ``groupG/G/<name>_test.jpg`` (every pixel ``20 k + 10``),
    ``<name>_temp.jpg`` (every pixel ``250 - 20 k``), ``groupG/G_not/<name>.txt`` and the list ``<split>.txt``
    naming ``<name>.jpg`` as the real one does. Returns the list's lines."""
    lines = []
    for k, name in enumerate(names):
        group = name[:5]
        img_dir, ann_dir = data / f"group{group}" / group, data / f"group{group}" / f"{group}_not"
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((HEIGHT, WIDTH), 20 * k + 10, np.uint8)).save(img_dir / f"{name}_test.jpg")
        Image.fromarray(np.full((HEIGHT, WIDTH), 250 - 20 * k, np.uint8)).save(img_dir / f"{name}_temp.jpg")
        (ann_dir / f"{name}.txt").write_text("".join(" ".join(map(str, b)) + "\n" for b in boxes_of(k)))
        lines.append(f"group{group}/{group}/{name}.jpg group{group}/{group}_not/{name}.txt")
    (data / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return lines


# ---------------------------------------------------------------------------
# The folder, the list and the images
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("sub", ["PCBData", "DeepPCB/PCBData", "DeepPCB-master/PCBData"])
def test_pcbdata_is_found_in_a_clone_and_in_an_extracted_zip(tmp_path, sub):
    # a clone holds PCBData; GitHub's zip unpacks to DeepPCB-master/PCBData; a renamed folder to DeepPCB/PCBData
    write_pcbdata(tmp_path / sub, NAMES[:3], split="test")
    ds = deeppcb.load_deeppcb(tmp_path, "test")
    assert ds.image_ids == list(NAMES[:3])
    assert ds.info == {"root": str(tmp_path / sub), "split": "test", "n_images": None, "seed": 0}


def test_missing_list_names_every_place_looked(tmp_path):
    write_pcbdata(tmp_path / "PCBData", NAMES[:1], split="trainval")
    with pytest.raises(FileNotFoundError) as err:
        deeppcb.load_deeppcb(tmp_path, "test")
    r = tmp_path
    assert str(err.value) == (
        f"No DeepPCB split list 'test.txt' under {r} (looked in {r}/PCBData, {r}, {r}/DeepPCB/PCBData and "
        f"{r}/DeepPCB-master/PCBData). Point root at a DeepPCB clone (it holds PCBData/trainval.txt and "
        "PCBData/test.txt); online, deeppcb.download_deeppcb(dest) fetches it, offline use DATA_SOURCE = 'synthetic'.")
    with pytest.raises(ValueError) as err:
        deeppcb.load_deeppcb(tmp_path, "train")
    assert str(err.value) == "split='train' must be one of ('trainval', 'test')."


def test_loader_values_of_a_tiny_set(tmp_path):
    write_pcbdata(tmp_path / "PCBData")
    ds = deeppcb.load_deeppcb(tmp_path)
    assert ds.image_ids == list(NAMES) and ds.source == "deeppcb" and ds.class_names == PCB_CLASSES
    assert ds.images.shape == ds.templates.shape == (8, HEIGHT, WIDTH)
    assert ds.images.dtype == ds.templates.dtype == np.uint8
    for k in range(8):
        # a flat grey survives JPEG within a grey level or two
        np.testing.assert_allclose(ds.images[k], 20 * k + 10, atol=2)
        np.testing.assert_allclose(ds.templates[k], 250 - 20 * k, atol=2)
        lines = np.array(boxes_of(k))
        np.testing.assert_array_equal(ds.boxes[k], lines[:, :4])
        np.testing.assert_array_equal(ds.labels[k], lines[:, 4])
        assert ds.boxes[k].dtype == np.float32 and ds.labels[k].dtype == np.int64


def test_split_list_skips_blank_lines_and_counts_them(tmp_path):
    data = tmp_path / "PCBData"
    lines = write_pcbdata(data, NAMES[:3])
    (data / "trainval.txt").write_text("\n" + lines[0] + "\n   \n\t\n" + lines[1] + "\n\n" + lines[2] + "\n\n\n")
    assert deeppcb.load_deeppcb(tmp_path).image_ids == list(NAMES[:3])
    (data / "trainval.txt").write_text("\n" + lines[0] + "\n   \n  a.jpg b.txt c  \n" + lines[1] + "\n")
    with pytest.raises(ValueError) as err:
        deeppcb.load_deeppcb(tmp_path)
    assert str(err.value) == (f"{data / 'trainval.txt'}, line 4: expected 'groupN/N/XXXXXXXX.jpg "
                              "groupN/N_not/XXXXXXXX.txt', got 'a.jpg b.txt c'.")


@pytest.mark.parametrize("line", ["g/1/00000001.jpg", "g/1/00000001.png g/1_not/00000001.txt",
                                  "g/1/00000001.jpg g/1_not/00000001.xml", "g/1/00000001.jpg, g/1_not/00000001.txt"])
def test_split_list_rejects_a_malformed_line(tmp_path, line):
    data = tmp_path / "PCBData"
    data.mkdir()
    (data / "trainval.txt").write_text(line + "\n")
    with pytest.raises(ValueError) as err:
        deeppcb.load_deeppcb(tmp_path)
    assert str(err.value) == (f"{data / 'trainval.txt'}, line 1: expected 'groupN/N/XXXXXXXX.jpg "
                              f"groupN/N_not/XXXXXXXX.txt', got {line!r}.")


def test_image_id_is_the_image_name_not_the_annotation_name(tmp_path):
    data = tmp_path / "PCBData"
    lines = write_pcbdata(data, NAMES[:1])
    (data / "group00041" / "00041_not" / "00041030.txt").rename(data / "group00041" / "00041_not" / "other.txt")
    (data / "trainval.txt").write_text(lines[0].replace("00041030.txt", "other.txt") + "\n")
    assert deeppcb.load_deeppcb(tmp_path).image_ids == ["00041030"]


def test_an_empty_list_gives_an_empty_set_of_640_pixel_images(tmp_path):
    (tmp_path / "PCBData").mkdir()
    (tmp_path / "PCBData" / "test.txt").write_text("\n  \n")
    ds = deeppcb.load_deeppcb(tmp_path, "test")
    assert len(ds) == 0 and ds.image_ids == [] and ds.boxes == []
    assert ds.images.shape == ds.templates.shape == (0, 640, 640)
    assert ds.images.dtype == ds.templates.dtype == np.uint8


def test_missing_files_are_named(tmp_path):
    data = tmp_path / "PCBData"
    write_pcbdata(data, NAMES[:2])
    temp = data / "group00041" / "00041" / "00041059_temp.jpg"
    temp.unlink()
    assert len(deeppcb.load_deeppcb(tmp_path, templates=False)) == 2  # the templates are not read
    with pytest.raises(FileNotFoundError) as err:
        deeppcb.load_deeppcb(tmp_path)
    assert str(err.value) == (f"DeepPCB image {temp} is missing (named by the split list; the files on disk are "
                              "XXXXXXXX_test.jpg and XXXXXXXX_temp.jpg beside each other).")
    ann = data / "group00041" / "00041_not" / "00041030.txt"
    ann.unlink()
    with pytest.raises(FileNotFoundError) as err:
        deeppcb.load_deeppcb(tmp_path, templates=False)
    assert str(err.value) == f"Annotation file {ann} does not exist."


def test_images_of_different_sizes_name_the_first_file_of_each_size(tmp_path):
    paths = [tmp_path / f"{c}_test.jpg" for c in "abc"]
    for p, shape in zip(paths, [(64, 64), (32, 64), (64, 64)]):
        Image.fromarray(np.zeros(shape, np.uint8)).save(p)
    with pytest.raises(ValueError) as err:
        deeppcb._stack_images(paths, jobs=2)
    assert str(err.value) == (f"DeepPCB images differ in size: {{(64, 64): {paths[0]!r}, (32, 64): {paths[1]!r}}}; "
                              "every image must be 640x640.")


# ---------------------------------------------------------------------------
# n_images and seed
# ---------------------------------------------------------------------------
def _ids(root, **kwargs) -> list[str]:
    return deeppcb.load_deeppcb(root, templates=False, **kwargs).image_ids


def test_n_images_draws_a_subset_without_repeats_in_list_order(tmp_path):
    write_pcbdata(tmp_path / "PCBData")
    assert _ids(tmp_path, n_images=100) == list(NAMES)  # more than the list holds: all of it
    assert len(_ids(tmp_path, n_images=1)) == 1
    assert len(_ids(tmp_path, n_images=np.int64(3))) == 3
    for seed in range(3):  # 7 of 8 drawn with replacement would repeat a pair with probability 0.98
        ids = _ids(tmp_path, n_images=7, seed=seed)
        assert len(set(ids)) == 7 and ids == [n for n in NAMES if n in ids]
    # the seed decides the subset: the default is seed 0, the same seed repeats it, and seeds 0 and 1
    # differ (two draws of 4 of 8 coincide with probability 1/70 for any generator)
    assert _ids(tmp_path, n_images=4) == _ids(tmp_path, n_images=4, seed=0)
    assert _ids(tmp_path, n_images=4, seed=5) == _ids(tmp_path, n_images=4, seed=5)
    assert _ids(tmp_path, n_images=4, seed=0) != _ids(tmp_path, n_images=4, seed=1)
    ds = deeppcb.load_deeppcb(tmp_path, n_images=4, seed=5)
    assert ds.info == {"root": str(tmp_path / "PCBData"), "split": "trainval", "n_images": 4, "seed": 5}


@pytest.mark.parametrize("n_images", [0, -2, 2.5, "3"])
def test_n_images_must_be_a_positive_integer(tmp_path, n_images):
    write_pcbdata(tmp_path / "PCBData", NAMES[:2])
    with pytest.raises(ValueError) as err:
        deeppcb.load_deeppcb(tmp_path, n_images=n_images)
    assert str(err.value) == f"n_images={n_images!r} must be a positive integer or None."


# ---------------------------------------------------------------------------
# The downloader, without a network
# ---------------------------------------------------------------------------
def _no_probe(url, timeout=2.0):
    raise AssertionError("the network was probed although a copy exists")


def test_download_offline_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    # fast = decided by the probe alone: no clone or zip download is even started (no wall-clock limit,
    # which a loaded machine could break)
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted although the probe failed")

    monkeypatch.setattr(deeppcb.subprocess, "run", no_download)
    monkeypatch.setattr(deeppcb.urllib.request, "urlopen", no_download)
    with pytest.raises(ConnectionError, match="DATA_SOURCE = 'synthetic'"):
        deeppcb.download_deeppcb(tmp_path / "DeepPCB", timeout=2, probe_url="http://127.0.0.1:9/")
    assert not (tmp_path / "DeepPCB").exists()
    # an existing copy is reused without any network access
    (tmp_path / "copy" / "PCBData").mkdir(parents=True)
    (tmp_path / "copy" / "PCBData" / "trainval.txt").write_text("")
    assert deeppcb.download_deeppcb(tmp_path / "copy", probe_url="http://127.0.0.1:9/") == tmp_path / "copy"


def test_download_reuses_the_copy_in_the_data_folder(data_home, monkeypatch):
    monkeypatch.setattr(pretrained, "host_reachable", _no_probe)
    (data_home / "DeepPCB" / "PCBData").mkdir(parents=True)
    (data_home / "DeepPCB" / "PCBData" / "trainval.txt").write_text("")
    assert deeppcb.download_deeppcb() == data_home / "DeepPCB"


def test_download_probes_github_for_ten_seconds_by_default(tmp_path, monkeypatch):
    probes = []
    monkeypatch.setattr(pretrained, "host_reachable", lambda url, timeout=2.0: probes.append((url, timeout)) or False)
    dest = tmp_path / "data" / "DeepPCB"
    with pytest.raises(ConnectionError) as err:
        deeppcb.download_deeppcb(dest)
    assert probes == [("https://github.com", 10.0)]
    assert str(err.value) == (
        f"Cannot reach https://github.com within 10 s; DeepPCB cannot be downloaded here. Offline, use "
        f"DATA_SOURCE = 'synthetic' (the twin), or copy a clone of {REPO_URL} to {dest} by hand and set DATA_PATH to it.")
    assert err.value.__cause__ is None and not (tmp_path / "data").exists()
    with pytest.raises(ConnectionError, match=r"^Cannot reach http://mirror\.invalid within 2\.5 s; "):
        deeppcb.download_deeppcb(dest, timeout=2.5, probe_url="http://mirror.invalid")


_SUBPROCESS_RUN = subprocess.run  # the real one: the tests patch the attribute of the (one) subprocess module


def _fake_git(exit_code: int, stderr: str, calls: list):
    """``subprocess.run`` that records the git command and runs a Python child with the same keyword
    arguments instead (so capture_output, text and check act for real) writing ``stderr``, exiting ``exit_code``."""
    def run(cmd, env, **kwargs):
        calls.append((cmd, env, kwargs))
        script = f"import sys; sys.stderr.write({stderr!r}); sys.exit({exit_code})"
        return _SUBPROCESS_RUN([sys.executable, "-c", script], env=env, **kwargs)

    return run


def test_download_runs_git_clone_with_a_stall_limit_and_reports_its_error(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "host_reachable", lambda url, timeout=2.0: True)
    looked_up = []
    monkeypatch.setattr(deeppcb.shutil, "which", lambda name: looked_up.append(name) or "/usr/bin/git")
    monkeypatch.setenv("M30PCB_MARK", "kept")
    calls = []
    monkeypatch.setattr(deeppcb.subprocess, "run", _fake_git(128, "  " + "x" * 600 + "END\n", calls))
    dest = tmp_path / "deep" / "er" / "DeepPCB"
    with pytest.raises(ConnectionError) as err:
        deeppcb.download_deeppcb(dest, timeout=12.7)
    # stderr stripped, its last 500 characters: 497 x and END
    assert str(err.value) == f"git clone {REPO_URL} failed: " + "x" * 497 + "END"
    assert looked_up == ["git"] and (tmp_path / "deep" / "er").is_dir()
    (cmd, env, kwargs), = calls
    assert cmd == ["git", "clone", "--depth", "1", REPO_URL, str(dest)]
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_HTTP_LOW_SPEED_LIMIT"] == "1000"   # bytes/s ...
    assert env["GIT_HTTP_LOW_SPEED_TIME"] == "12" and env["M30PCB_MARK"] == "kept"            # ... for int(12.7) s
    # a 30-minute cap on the whole clone; output captured as text; the exit code checked by the caller
    assert kwargs == {"capture_output": True, "text": True, "timeout": 1800, "check": False}
    monkeypatch.setattr(deeppcb.subprocess, "run", _fake_git(0, "", calls))
    assert deeppcb.download_deeppcb(dest, timeout=3) == dest
    assert calls[-1][1]["GIT_HTTP_LOW_SPEED_TIME"] == "5"                                    # max(timeout, 5)


def test_download_without_git_unpacks_in_a_temporary_folder_beside_dest(tmp_path, monkeypatch):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("DeepPCB-master/PCBData/trainval.txt", "group1/1/00000001.jpg group1/1_not/00000001.txt\n")
    monkeypatch.setattr(pretrained, "host_reachable", lambda url, timeout=2.0: True)
    monkeypatch.setattr(deeppcb.shutil, "which", lambda name: None)
    dest = tmp_path / "z" / "DeepPCB"
    beside = []

    opened = []

    def urlopen(url, timeout):
        opened.append((url, timeout))
        beside.extend((p, p.is_dir()) for p in dest.parent.iterdir())  # the temporary folder, on dest's disk
        return io.BytesIO(buffer.getvalue())

    monkeypatch.setattr(deeppcb.urllib.request, "urlopen", urlopen)
    assert deeppcb.download_deeppcb(dest, timeout=4) == dest
    assert opened == [(deeppcb.DEEPPCB_ZIP_URL, 4)]
    (folder, was_dir), = beside
    assert was_dir and not folder.exists()
    assert [p.name for p in (tmp_path / "z").iterdir()] == ["DeepPCB"]   # the temporary folder is gone
    assert (dest / "PCBData" / "trainval.txt").read_text().startswith("group1/1/00000001.jpg")


# ---------------------------------------------------------------------------
# Pinned to the real sample (skipped where ../shared is absent)
# ---------------------------------------------------------------------------
@needs_sample
def test_loader_reads_the_real_files_the_list_names_without_their_suffix():
    data = SAMPLE / "PCBData"
    lines = [line.split() for line in (data / "trainval.txt").read_text().splitlines() if line.strip()]
    ds = deeppcb.load_deeppcb(SAMPLE, n_images=3, seed=2)
    assert ds.info["root"] == str(data)
    for k, name in enumerate(ds.image_ids):
        img, ann = next(fields for fields in lines if Path(fields[0]).stem == name)
        assert len(name) == 8 and name.isdigit() and not (data / img).exists()  # the list's name is not a file
        for array, suffix in ((ds.images[k], "_test.jpg"), (ds.templates[k], "_temp.jpg")):
            with Image.open(data / img.replace(".jpg", suffix)) as im:
                np.testing.assert_array_equal(array, np.asarray(im.convert("L")))
        rows = np.array([[int(v) for v in line.split()] for line in (data / ann).read_text().splitlines()])
        np.testing.assert_array_equal(ds.boxes[k], rows[:, :4])
        np.testing.assert_array_equal(ds.labels[k], rows[:, 4])
        assert set(rows[:, 4]) <= set(range(1, 7))
