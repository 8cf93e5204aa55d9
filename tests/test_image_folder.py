"""Tests of course_utils.image_folder: every kind of bad file is skipped and logged."""
import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from course_utils.image_folder import check_image_file, load_image_folder


def _image_bytes(fmt: str, seed: int = 0, size=(24, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def photo_root(tmp_path):
    """Three classes with good images and one bad file of every kind."""
    root = tmp_path / "photos"
    good = {"dent": ["a.png", "b.jpg"], "ok": ["c.png", "d.jpeg", "e.bmp"], "scratch": ["f.png"]}
    for cls, names in good.items():
        (root / cls).mkdir(parents=True)
        for i, name in enumerate(names):
            fmt = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "bmp": "BMP"}[name.split(".")[1]]
            (root / cls / name).write_bytes(_image_bytes(fmt, seed=i))
    bad = {
        ("dent", "empty.png"): "empty file",
        ("dent", "half.png"): "truncated or corrupt",
        ("ok", "half.jpg"): "truncated or corrupt",
        ("ok", "notes.png"): "not an image",
        ("scratch", "readme.txt"): "not an image extension",
        ("scratch", "broken_link.png"): "unreadable",
    }
    (root / "dent" / "empty.png").write_bytes(b"")
    (root / "dent" / "half.png").write_bytes(_image_bytes("PNG", seed=5, size=(64, 64))[:-200])
    (root / "ok" / "half.jpg").write_bytes(_image_bytes("JPEG", seed=6, size=(64, 64))[:400])
    (root / "ok" / "notes.png").write_text("this is text, not a PNG")
    (root / "scratch" / "readme.txt").write_text("labels by hand")
    os.symlink(root / "missing.png", root / "scratch" / "broken_link.png")  # unreadable even as root
    (root / ".ipynb_checkpoints").mkdir()  # a hidden folder is not a class
    (root / ".ipynb_checkpoints" / "x.png").write_bytes(_image_bytes("PNG"))
    return root, good, bad


def test_bad_files_are_skipped_and_logged(photo_root, tmp_path):
    root, good, bad = photo_root
    log = tmp_path / "logs" / "skipped.csv"
    dataset, report = load_image_folder(root, log_path=log, verbose=False)
    assert dataset.classes == ["dent", "ok", "scratch"]
    assert len(dataset) == sum(len(v) for v in good.values())
    kept = sorted(os.path.relpath(p, root) for p, _ in dataset.samples)
    assert kept == sorted(f"{c}/{n}" for c, names in good.items() for n in names)
    image, target = dataset[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and target == 0

    written = pd.read_csv(log)
    assert list(written.columns) == ["path", "class", "reason"] and len(written) == len(bad)
    reasons = {os.path.relpath(p, root): r for p, r in zip(written["path"], written["reason"])}
    for (cls, name), why in bad.items():
        assert why in reasons[f"{cls}/{name}"], (name, reasons[f"{cls}/{name}"])
    assert report.summary.loc["dent"].tolist() == [4, 2, 2]  # found, kept, skipped
    assert report.summary.loc["ok"].tolist() == [5, 3, 2]
    assert report.summary["kept"].sum() == len(dataset)
    assert not list(log.parent.glob("*.tmp"))


def test_transform_is_applied(photo_root, tmp_path):
    root, _, _ = photo_root
    dataset, _ = load_image_folder(root, transform=lambda img: img.size, log_path=tmp_path / "l.csv", verbose=False)
    assert dataset[0][0] == (24, 16)


def test_check_image_file_reasons(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(_image_bytes("PNG"))
    assert check_image_file(png) is None
    jpg_named_png = tmp_path / "y.png"  # wrong ending but a real image: usable
    jpg_named_png.write_bytes(_image_bytes("JPEG"))
    assert check_image_file(jpg_named_png) is None
    assert "is not an image extension" in check_image_file(tmp_path / "z.gif", extensions=(".png",))
    d = tmp_path / "folder.png"
    d.mkdir()
    assert check_image_file(d).startswith("unreadable")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_permissions(tmp_path):
    f = tmp_path / "locked.png"
    f.write_bytes(_image_bytes("PNG"))
    f.chmod(0)
    try:
        assert check_image_file(f).startswith("unreadable")
    finally:
        f.chmod(0o644)


def test_empty_class_and_bad_roots(photo_root, tmp_path):
    root, _, _ = photo_root
    (root / "empty_class").mkdir()
    (root / "empty_class" / "bad.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\['empty_class'\] .*hold no usable image.*allow_empty_classes=True"):
        load_image_folder(root, log_path=tmp_path / "l.csv", verbose=False)
    assert (tmp_path / "l.csv").is_file()  # the log is written before the error
    dataset, report = load_image_folder(root, log_path=tmp_path / "l.csv", allow_empty_classes=True, verbose=False)
    assert "empty_class" in dataset.classes and report.summary.loc["empty_class", "kept"] == 0

    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_image_folder(tmp_path / "nope")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").write_bytes(_image_bytes("PNG"))
    with pytest.raises(ValueError, match="no class folders"):
        load_image_folder(flat, log_path=tmp_path / "l.csv")
    with pytest.raises(TypeError, match="root must be a folder path"):
        load_image_folder(42)
    with pytest.raises(ValueError, match="extensions="):
        load_image_folder(root, extensions=("png",))
