"""Tests of course_utils.classification.image_folder: every kind of bad file is skipped and logged."""
import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import torch

from course_utils.classification.data import make_loader
from course_utils.classification.image_folder import check_image_file, load_image_folder


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


# ---------------------------------------------------------------------------
# make_photo_folder, images_in_memory, ImageTensorDataset
# ---------------------------------------------------------------------------
from course_utils.classification.image_folder import (BROKEN_KINDS, ImageTensorDataset, images_in_memory,  # noqa: E402
                                       make_photo_folder)
from course_utils.classification.surface_photos import PHOTO_CLASSES, defect_mask, render_surface_photo  # noqa: E402

_REASON_OF_KIND = {"empty": "empty file", "truncated": "truncated or corrupt", "not an image": "not an image"}


def test_photo_folder_broken_files_are_exactly_the_skipped_ones(tmp_path):
    counts = {"clean": 7, "crack": 3, "scratch": 4, "spot": 2}
    manifest = make_photo_folder(tmp_path / "ph", n_per_class=counts, size=(24, 32), n_broken=7, seed=3)
    assert list(manifest.columns) == ["path", "class", "kind", "format"]
    assert manifest[manifest.kind == "image"].groupby("class").size().to_dict() == counts
    assert manifest.kind.value_counts().to_dict() == {"image": 16, "empty": 3, "truncated": 2, "not an image": 2}
    assert all(os.path.isfile(p) for p in manifest.path) and manifest.path.is_unique
    broken = manifest[manifest.kind != "image"]
    assert sorted(broken["class"].unique()) == sorted(PHOTO_CLASSES)  # spread over the classes

    dataset, report = load_image_folder(tmp_path / "ph", log_path=tmp_path / "skip.csv", verbose=False)
    assert dataset.classes == sorted(counts) and len(dataset) == sum(counts.values())
    assert sorted(p for p, _ in dataset.samples) == sorted(manifest.path[manifest.kind == "image"])
    reasons = dict(zip(report.skipped.path, report.skipped.reason))
    assert sorted(reasons) == sorted(broken.path)
    for path, kind in zip(broken.path, broken.kind):
        assert _REASON_OF_KIND[kind] in reasons[path], (kind, reasons[path])
    assert report.summary["kept"].to_dict() == counts
    assert report.summary["skipped"].sum() == 7
    image, _ = dataset[0]
    assert image.size == (32, 24) and image.mode == "RGB"


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_truncated_files_fail_in_both_formats(tmp_path, fmt):
    manifest = make_photo_folder(tmp_path / fmt, classes=("spot",), n_per_class=2, n_broken=2, formats=(fmt,), seed=0)
    truncated = manifest.path[manifest.kind == "truncated"].item()
    assert truncated.endswith(f".{fmt}") and os.path.getsize(truncated) > 0
    assert check_image_file(truncated).startswith("truncated or corrupt image")
    good = manifest.path[manifest.kind == "image"]
    assert all(check_image_file(p) is None for p in good)


def test_photo_folder_is_reproducible(tmp_path):
    a = make_photo_folder(tmp_path / "a", n_per_class=3, n_broken=3, seed=11)
    b = make_photo_folder(tmp_path / "b", n_per_class=3, n_broken=3, seed=11)
    c = make_photo_folder(tmp_path / "c", n_per_class=3, n_broken=3, seed=12)
    rel = lambda m, r: [os.path.relpath(p, tmp_path / r) for p in m.path]  # noqa: E731
    assert rel(a, "a") == rel(b, "b")
    assert all(open(p, "rb").read() == open(q, "rb").read() for p, q in zip(a.path, b.path))
    good = a.kind == "image"
    differ = [open(p, "rb").read() != open(q, "rb").read() for p, q in zip(a.path[good], c.path[good])
              if os.path.basename(p).split(".")[0] == os.path.basename(q).split(".")[0]]
    assert differ and all(differ)


def test_photo_folder_overwrite_guard(tmp_path):
    root = tmp_path / "ph"
    make_photo_folder(root, classes=("clean", "spot"), n_per_class=2, n_broken=0, seed=0)
    (root / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_photo_folder(root, classes=("clean", "spot"), n_per_class=2, seed=0)
    (root / "spot" / "stale.png").write_bytes(b"")
    make_photo_folder(root, classes=("clean", "spot"), n_per_class=1, n_broken=0, seed=0, overwrite=True)
    assert os.listdir(root / "spot") == ["spot_0000.png"] or os.listdir(root / "spot") == ["spot_0000.jpg"]
    assert (root / "notes.txt").read_text() == "mine"


def test_photo_folder_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="classes="):
        make_photo_folder(tmp_path / "x", classes=("clean", "dent"))
    with pytest.raises(ValueError, match="3 counts for 4 classes"):
        make_photo_folder(tmp_path / "x", n_per_class=[1, 2, 3])
    with pytest.raises(ValueError, match="n_per_class must give a count for every class"):
        make_photo_folder(tmp_path / "x", n_per_class={"clean": 2})
    with pytest.raises(ValueError, match="n_broken=-1"):
        make_photo_folder(tmp_path / "x", n_broken=-1)
    with pytest.raises(ValueError, match="formats="):
        make_photo_folder(tmp_path / "x", formats=("gif",))
    assert BROKEN_KINDS == ("empty", "truncated", "not an image")


def test_surface_photos_draw_the_defect_they_name():
    for seed in range(5):
        assert not defect_mask("clean", size=64, seed=seed).any()
        for kind, sign in (("scratch", 1), ("spot", -1), ("crack", -1)):
            img = render_surface_photo(kind, size=64, seed=seed).astype(float).mean(-1)
            mask = defect_mask(kind, size=64, seed=seed)
            assert 0 < mask.mean() < 0.3, (kind, seed, mask.mean())
            assert sign * (img[mask].mean() - img[~mask].mean()) > 25, (kind, seed)  # grey levels of 255
    img = render_surface_photo("spot", size=(40, 56), seed=1)
    assert img.shape == (40, 56, 3) and img.dtype == np.uint8
    assert np.array_equal(img, render_surface_photo("spot", size=(40, 56), seed=1))
    assert not np.array_equal(img, render_surface_photo("spot", size=(40, 56), seed=2))
    with pytest.raises(ValueError, match="kind='dent'"):
        render_surface_photo("dent")


def test_images_in_memory_and_tensor_dataset(tmp_path):
    make_photo_folder(tmp_path / "ph", n_per_class=[2, 1, 1, 3], size=32, n_broken=2, seed=0)
    dataset, _ = load_image_folder(tmp_path / "ph", log_path=tmp_path / "l.csv", verbose=False)
    images, labels = images_in_memory(dataset)
    assert images.shape == (7, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == dataset.targets == [0, 0, 1, 2, 3, 3, 3]
    first = np.asarray(Image.open(dataset.samples[0][0]).convert("RGB"))
    assert np.array_equal(images[0].permute(1, 2, 0).numpy(), first)
    small, _ = images_in_memory(dataset, size=(16, 20))
    expected = np.asarray(Image.open(dataset.samples[0][0]).convert("RGB").resize((20, 16), Image.BILINEAR))
    assert small.shape == (7, 3, 16, 20) and np.array_equal(small[0].permute(1, 2, 0).numpy(), expected)

    ds = ImageTensorDataset(images, labels, dataset.classes)
    x, y = ds[[4, 0]]
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32 and y.tolist() == [3, 0]
    assert torch.equal(x[1], images[0].float() / 255) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(ds[4][0], x[0]) and ds.class_counts().tolist() == [2, 1, 1, 3]
    batches = list(make_loader(ds, batch_size=4))
    assert [b[0].shape[0] for b in batches] == [4, 3]
    with pytest.raises(ValueError, match="uint8 tensor"):
        ImageTensorDataset(images.float(), labels, dataset.classes)
    with pytest.raises(ValueError, match=r"labels must have shape \(7,\)"):
        ImageTensorDataset(images, labels[:3], dataset.classes)
    with pytest.raises(ValueError, match="labels must lie in"):
        ImageTensorDataset(images, labels, dataset.classes[:2])
    with pytest.raises(TypeError, match="ImageFolder"):
        images_in_memory([1, 2])
