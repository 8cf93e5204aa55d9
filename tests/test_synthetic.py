"""Tests of the synthetic WM-811K twin (course_utils.synthetic)."""
import numpy as np
import pytest
from scipy import ndimage

from course_utils import data, wafers
from course_utils.config import CLASS_NAMES, NUM_CLASSES, WM811K_LABELED_COUNTS
from course_utils.synthetic import class_allocation, make_synthetic_wafers

PER_CLASS = 40
C = {name: k for k, name in enumerate(CLASS_NAMES)}


@pytest.fixture(scope="module")
def per_class_set():
    """40 wafers of every class, 64x64."""
    return make_synthetic_wafers(class_counts=[PER_CLASS] * NUM_CLASSES, seed=7)


def radius_grid(size=64):
    """Distance of every pixel centre from the map centre, 1 = the inscribed circle."""
    centre = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    return np.hypot(yy - centre, xx - centre) / (size / 2)


def defect_rate(maps, region):
    """Defective dies / on-wafer dies inside ``region`` (bool (H, W)), pooled over ``maps``."""
    on = (maps > 0) & region
    return (maps == 2)[on].mean()


# ---------------------------------------------------------------------------
# Format, determinism, metadata
# ---------------------------------------------------------------------------
def test_format_dtype_values_and_metadata():
    ws = make_synthetic_wafers(120, seed=3)
    assert isinstance(ws, wafers.WaferSet) and ws.source == "synthetic"
    assert ws.maps.shape == (120, 64, 64) and ws.maps.dtype == np.uint8
    assert set(np.unique(ws.maps)) == {0, 1, 2}
    assert ws.labels.dtype == np.int64 and ws.labels.min() >= 0 and ws.labels.max() < NUM_CLASSES
    assert ws.grid_shape.shape == (120, 2) and ws.grid_shape.dtype == np.int32
    assert ws.grid_shape.min() >= 24 and ws.grid_shape.max() <= 220
    # lots of 25 wafers named syn-lot-00001, ..., sharing one die grid; wafer_index 1..25
    assert ws.lot[0] == "syn-lot-00001" and ws.lot[25] == "syn-lot-00002" and len(np.unique(ws.lot)) == 5
    assert ws.wafer_index.dtype == np.int16 and ws.wafer_index[:26].tolist() == list(range(1, 26)) + [1]
    for lot in np.unique(ws.lot):
        assert len(np.unique(ws.grid_shape[ws.lot == lot], axis=0)) == 1
    # dies on the wafer: about pi/4 of the grid (the wafer is the ellipse inscribed in it)
    area = ws.grid_shape[:, 0].astype(float) * ws.grid_shape[:, 1]
    assert ws.die_size.dtype == np.float32
    assert np.all((ws.die_size > 0.70 * area) & (ws.die_size < 0.79 * area))


def test_same_seed_same_arrays_different_seed_differs():
    a = make_synthetic_wafers(300, seed=11)
    b = make_synthetic_wafers(300, seed=11)
    c = make_synthetic_wafers(300, seed=12)
    for name in ("maps", "labels", "grid_shape", "lot", "wafer_index", "die_size"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.maps, c.maps)
    assert not np.array_equal(a.labels, c.labels)


def test_result_does_not_depend_on_threads():
    kwargs = dict(proportions="balanced", size=32, seed=4)  # several chunks of 512 wafers
    one = make_synthetic_wafers(2000, n_jobs=1, **kwargs)
    two = make_synthetic_wafers(2000, n_jobs=2, **kwargs)
    np.testing.assert_array_equal(one.maps, two.maps)


def test_non_square_size_and_load_wafer_data():
    ws = make_synthetic_wafers(30, size=(32, 48), seed=0)
    assert ws.maps.shape == (30, 32, 48)
    loaded = data.load_wafer_data("synthetic", n_samples=40, size=32, seed=5)
    direct = make_synthetic_wafers(40, size=32, seed=5)
    assert loaded.maps.shape == (40, 32, 32)
    np.testing.assert_array_equal(loaded.maps, direct.maps)


# ---------------------------------------------------------------------------
# Class counts
# ---------------------------------------------------------------------------
def test_wm811k_proportions_reproduce_the_real_counts():
    counts = class_allocation(sum(WM811K_LABELED_COUNTS.values()), proportions="wm811k")
    assert counts.tolist() == [WM811K_LABELED_COUNTS[c] for c in CLASS_NAMES]
    exact = make_synthetic_wafers(1000, proportions="wm811k", min_per_class=0, seed=0).class_counts()
    assert exact.sum() == 1000 and exact[C["none"]] == 852  # 147,431 / 172,950 of 1000 = 852.4
    assert exact[C["Near-full"]] == 1 and exact[C["Edge-Ring"]] == 56  # 0.86 and 55.97
    floored = make_synthetic_wafers(1000, proportions="wm811k", seed=0).class_counts()  # min_per_class=5
    assert floored.sum() == 1000 and floored.min() == 5 and floored[C["none"]] < 852


def test_balanced_and_explicit_counts():
    assert make_synthetic_wafers(90, proportions="balanced").class_counts().tolist() == [10] * 9
    wanted = {"Center": 3, "Scratch": 7, "none": 2}
    ws = make_synthetic_wafers(proportions="balanced", class_counts=wanted, seed=1)
    expected = [wanted.get(c, 0) for c in CLASS_NAMES]
    assert ws.class_counts().tolist() == expected and len(ws) == 12
    seq = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert make_synthetic_wafers(class_counts=np.array(seq)).class_counts().tolist() == seq
    # a custom mix: only two classes, 3:1
    mix = make_synthetic_wafers(400, proportions={"Donut": 3, "Loc": 1}, min_per_class=0).class_counts()
    assert mix[C["Donut"]] == 300 and mix[C["Loc"]] == 100 and mix.sum() == 400


def test_min_per_class():
    counts = make_synthetic_wafers(200, proportions="wm811k", min_per_class=5).class_counts()
    assert counts.sum() == 200 and counts.min() == 5
    assert counts[C["none"]] == counts.max() > 150  # the floor is paid for by the big classes
    tiny = make_synthetic_wafers(20, proportions="wm811k").class_counts()  # 9 classes x 5 > 20
    assert tiny.sum() == 20 and tiny.min() == 2
    assert class_allocation(200, proportions="wm811k", min_per_class=0)[C["Near-full"]] == 0


# ---------------------------------------------------------------------------
# What the maps look like
# ---------------------------------------------------------------------------
def test_wafer_is_an_inscribed_ellipse(per_class_set):
    maps, r = per_class_set.maps, radius_grid()
    assert (maps[:, r < 0.9] > 0).all(), "dies inside 0.9 of the wafer radius must be on the wafer"
    assert (maps[:, r > 1.04] == 0).all(), "corners beyond the inscribed ellipse must be off wafer"
    fill = (maps > 0).mean(axis=(1, 2))
    assert 0.74 < fill.mean() < 0.80  # real WM-811K maps: 0.77


def test_maps_are_blocky_at_die_level(per_class_set):
    """Coarse grids were drawn per die and resized: pixels showing the same die agree."""
    ws = per_class_set
    coarse = np.flatnonzero(ws.grid_shape.max(axis=1) < 64)
    assert len(coarse) > 100
    for k in coarse[:50]:
        gh, gw = ws.grid_shape[k]
        die_row = np.floor((np.arange(64) + 0.5) * gh / 64).astype(int)
        die_col = np.floor((np.arange(64) + 0.5) * gw / 64).astype(int)
        first_row = np.searchsorted(die_row, die_row)  # first pixel row showing the same die row
        first_col = np.searchsorted(die_col, die_col)
        m = ws.maps[k]
        np.testing.assert_array_equal(m, m[first_row][:, first_col])


def test_class_patterns_sit_where_they_should(per_class_set):
    ws, r = per_class_set, radius_grid()
    by = {name: ws.maps[ws.labels == k] for name, k in C.items()}
    centre, middle, rim = r < 0.25, (r > 0.3) & (r < 0.8), (r > 0.9) & (r < 1.0)
    none_rate = defect_rate(by["none"], r < 1.0)
    assert none_rate < 0.2
    # Center: a blob in the middle
    assert defect_rate(by["Center"], centre) > 2.5 * defect_rate(by["none"], centre)
    assert defect_rate(by["Center"], centre) > 2.5 * defect_rate(by["Center"], middle)
    # Donut: a ring around a cleaner hole
    ring = (r > 0.3) & (r < 0.6)
    assert defect_rate(by["Donut"], ring) > 2 * defect_rate(by["Donut"], r < 0.12)
    # Edge-Ring: the rim, with a clean interior
    assert defect_rate(by["Edge-Ring"], rim) > 0.4
    assert defect_rate(by["Edge-Ring"], middle) < 0.08
    # Edge-Loc: more at the edge than inside, and more than 'none' at the edge
    assert defect_rate(by["Edge-Loc"], rim) > 1.5 * defect_rate(by["Edge-Loc"], middle)
    assert defect_rate(by["Edge-Loc"], rim) > 1.5 * defect_rate(by["none"], rim)
    # Near-full mostly defective; Random dense everywhere, with a flat radial profile
    assert defect_rate(by["Near-full"], r < 1.0) > 0.75
    rand = [defect_rate(by["Random"], region) for region in (centre, middle)]
    assert 0.3 < min(rand) and max(rand) < 0.65 and abs(rand[0] - rand[1]) < 0.06
    # Loc: clusters, so the largest connected defect blob is bigger than on 'none' wafers
    def largest_blob(maps):
        return np.median([np.bincount(ndimage.label(m == 2)[0].ravel())[1:].max(initial=0) for m in maps])
    assert largest_blob(by["Loc"]) > 2 * largest_blob(by["none"])


def test_scratches_are_thin_elongated_lines(per_class_set):
    """The largest defect component of a Scratch wafer is long and thin; of a Loc wafer, compact."""
    ws = per_class_set

    def elongation(maps):
        values = []
        for m in maps:
            lab, n = ndimage.label(m == 2, structure=np.ones((3, 3)))
            if n == 0:
                continue
            big = np.argmax(np.bincount(lab.ravel())[1:]) + 1
            pts = np.argwhere(lab == big).astype(float)
            if len(pts) < 5:
                continue
            ev = np.linalg.eigvalsh(np.cov(pts.T))
            values.append(np.sqrt(ev[1] / max(ev[0], 1e-6)))
        return np.median(values)

    assert elongation(ws.maps[ws.labels == C["Scratch"]]) > 1.5 * elongation(ws.maps[ws.labels == C["Loc"]])


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_samples=0), ValueError, "n_samples"),
    (dict(n_samples=-5), ValueError, "n_samples"),
    (dict(n_samples=2.5), TypeError, "n_samples"),
    (dict(size=8), ValueError, "size"),
    (dict(size=0), ValueError, "size"),
    (dict(size="big"), TypeError, "size"),
    (dict(proportions="imbalanced"), ValueError, "proportions"),
    (dict(proportions=[1, 2, 3]), ValueError, "proportions.*9"),
    (dict(proportions={"Centre": 1}), ValueError, "unknown class"),
    (dict(proportions=[0] * 9), ValueError, "all zeros"),
    (dict(class_counts=[5, 5, 5, 5, -1, 5, 5, 5, 5]), ValueError, "class_counts.*non-negative"),
    (dict(class_counts=[5] * 8), ValueError, "class_counts has 8"),
    (dict(class_counts={"none": 0}), ValueError, "class_counts is all zeros"),
    (dict(class_counts=[1.5] * 9), ValueError, "whole numbers"),
    (dict(class_counts="many"), TypeError, "class_counts"),
    (dict(min_per_class=-1), ValueError, "min_per_class"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_synthetic_wafers(**{"n_samples": 50, **kwargs})
