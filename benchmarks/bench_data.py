"""WM-811K loading speed: first conversion of the pickle and cached reload.

The real ``LSWMD.pkl`` (2,095,505,977 bytes, 811,457 wafers) cannot be shipped,
so this script writes a stand-in in the same format (pandas 0.19 / Python 2
pickle, written by ``write_wm811k_pickle``) at realistic scale:

* 811,457 rows (``--quick``: 40,000), 172,950 labeled in the real class mix
  (21.3 %), lots of ~17.5 wafers sharing one die grid;
* 632 die-grid shapes from 6 x 6 to 300 x 202, the two most common 32 x 29 and
  25 x 27, with a long tail of large grids so that the file is about as large
  as the real one per row (the script prints the size it got);
* labels as nested ``[['Loc']]`` / empty ``(0, 0)`` arrays, as in the real file.

Then it measures, with an empty cache folder:

1. first conversion: ``load_wafer_data("wm811k", size=64, trust=True)``
   (streamed SHA-256 + unpickling + label unwrapping + resize + cache write),
   once end to end and once stage by stage;
2. cached reload: the same call again (best and median of 5).

Targets (real file, this machine class): first conversion <= 60 s, cached reload <= 1 s.
Times are extrapolated to the real file by its size in bytes (stages that scale
with rows and with bytes grow by about the same factor here).

    python benchmarks/bench_data.py            # full scale (needs ~10 GB RAM, ~2 GB disk, a few minutes)
    python benchmarks/bench_data.py --quick    # 40,000 rows
"""
from __future__ import annotations

import argparse
import sys
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.classification import data, wafers, wm811k

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from py2pickle import write_wm811k_pickle  # noqa: E402  (test helper: writes the original format)

print = functools.partial(print, flush=True)  # progress shows when the output goes to a file

REAL_BYTES = 2_095_505_977
REAL_ROWS = 811_457
REAL_LABELED = 172_950
REAL_LOTS = 46_293


def shape_catalogue(rng: np.random.Generator, n_shapes: int = 632):
    """``n_shapes`` distinct (h, w) die grids and how often each occurs (sums to 1)."""
    shapes = {(32, 29), (25, 27), (300, 202), (6, 21)}
    while len(shapes) < n_shapes:
        h = int(np.clip(round(np.exp(rng.normal(np.log(38.5), 0.45))), 6, 300))
        w = int(np.clip(round(h * np.exp(rng.normal(0.0, 0.12))), 6, 300))
        shapes.add((h, w))
    shapes = [(32, 29), (25, 27)] + sorted(shapes - {(32, 29), (25, 27)}, key=lambda s: rng.random())
    weights = 1.0 / np.arange(1, n_shapes + 1) ** 0.9  # popularity falls with rank (Zipf-like)
    return np.array(shapes), weights / weights.sum()


def make_frame(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A WM-811K-like DataFrame of ``n_rows`` wafers (see the module docstring)."""
    rng = np.random.default_rng(seed)
    shapes, popularity = shape_catalogue(rng)
    n_lots = max(1, round(n_rows * REAL_LOTS / REAL_ROWS))
    lot_of = np.sort(rng.integers(0, n_lots, n_rows))
    shape_of = rng.choice(len(shapes), size=n_lots, p=popularity)[lot_of]
    maps = np.empty(n_rows, dtype=object)
    for s in np.unique(shape_of):  # one vectorised draw per grid shape
        idx = np.flatnonzero(shape_of == s)
        h, w = shapes[s]
        yy, xx = np.mgrid[:h, :w]
        inside = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 <= 1
        block = np.where(inside, 1 + (rng.random((len(idx), h, w)) < 0.05), 0).astype(np.uint8)
        maps[idx] = list(block)
    n_labeled = round(n_rows * REAL_LABELED / REAL_ROWS)
    labeled = np.zeros(n_rows, dtype=bool)
    labeled[rng.choice(n_rows, n_labeled, replace=False)] = True
    counts = wafers.wm811k_class_counts()
    names = rng.choice(wafers.CLASS_NAMES, size=n_rows, p=counts / counts.sum())
    test = rng.random(n_rows) < 118_595 / REAL_LABELED
    failure = [np.array([[n]], dtype=object) if lab else np.zeros((0, 0)) for n, lab in zip(names, labeled)]
    split = [np.array([["Test" if t else "Training"]]) if lab else np.zeros((0, 0)) for t, lab in zip(test, labeled)]
    return pd.DataFrame({
        "waferMap": pd.Series(maps, dtype=object),
        "dieSize": np.array([m.size for m in maps], dtype=float),
        "lotName": pd.Series([f"lot{i + 1}" for i in lot_of], dtype=object),
        "waferIndex": (np.arange(n_rows) % 25 + 1).astype(float),
        "trianTestLabel": pd.Series(split, dtype=object),
        "failureType": pd.Series(failure, dtype=object),
    })


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40,000 rows instead of 811,457")
    parser.add_argument("--rows", type=int, default=None, help="number of rows to generate")
    parser.add_argument("--size", type=int, default=64, help="map size after conversion")
    parser.add_argument("--workdir", default=None, help="folder for the stand-in pickle (kept for reruns)")
    args = parser.parse_args()
    n_rows = args.rows or (40_000 if args.quick else REAL_ROWS)
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "bench_data_wm811k")
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"LSWMD_like_{n_rows}.pkl"

    if source.is_file():
        print(f"Using the stand-in written before: {source}")
    else:
        frame, t_make = timed(make_frame, n_rows)
        _, t_write = timed(write_wm811k_pickle, frame, source)
        print(f"Wrote {source} ({n_rows:,} rows) in {t_make + t_write:.1f} s (pickling {t_write:.1f} s)")
        del frame
    n_bytes = source.stat().st_size
    scale = REAL_BYTES / n_bytes
    print(f"Stand-in: {n_rows:,} rows, {n_bytes:,} bytes = {n_bytes / n_rows:,.0f} bytes/row "
          f"(real file: {REAL_BYTES / REAL_ROWS:,.0f} bytes/row); extrapolation factor x{scale:.2f}\n")

    with tempfile.TemporaryDirectory(dir=workdir) as home:
        os.environ["COURSE_DATA_DIR"] = home
        ws, t_first = timed(data.load_wafer_data, "wm811k", path=source, size=args.size, trust=True)
        cache = Path(ws.info["cache"])
        cache_mb = cache.stat().st_size / 1e6
        reloads = [timed(data.load_wafer_data, "wm811k", path=source, size=args.size)[1] for _ in range(5)]

        # the same conversion, stage by stage
        _, t_hash = timed(wm811k.file_sha256, source)
        with open(source, "rb") as f:
            frame, t_unpickle = timed(wm811k._LegacyUnpickler(f, encoding="latin1").load)
        raw, t_unwrap = timed(wm811k._waferset_from_frame, frame, sha="", path=source, keep_unlabeled=False)
        del frame
        maps, t_resize = timed(wafers.resize_maps, raw.maps, args.size)
        fixed = wafers.WaferSet(maps=maps, labels=raw.labels, lot=raw.lot, wafer_index=raw.wafer_index,
                              die_size=raw.die_size, official_split=raw.official_split, grid_shape=raw.grid_shape)
        _, t_save = timed(wm811k.save_cache, fixed, Path(home) / "stage.npz", meta={})

    n_shapes = len(np.unique(raw.grid_shape, axis=0))
    print(f"Labeled wafers: {len(ws):,} in {n_shapes} grid shapes -> maps {ws.maps.shape} uint8; "
          f"cache {cache.name} {cache_mb:,.0f} MB")
    rows = [
        ("SHA-256 (streamed)", t_hash),
        ("unpickle (C unpickler + legacy names)", t_unpickle),
        ("unwrap labels, metadata, keep labeled", t_unwrap),
        (f"resize_maps to {args.size}x{args.size}", t_resize),
        ("write cache (.npz, atomic)", t_save),
    ]
    print(f"\n{'stage':42s} {'measured s':>11s} {'real file s':>12s}")
    for name, t in rows:
        print(f"{name:42s} {t:11.2f} {t * scale:12.1f}")
    print(f"{'sum of stages':42s} {sum(t for _, t in rows):11.2f} {sum(t for _, t in rows) * scale:12.1f}")
    print(f"\nfirst conversion, end to end:  {t_first:6.2f} s  -> real file ~{t_first * scale:5.1f} s (target <= 60 s)")
    print(f"cached reload, best of 5:      {min(reloads):6.3f} s  (median {statistics.median(reloads):.3f} s; "
          f"real file ~{min(reloads) * REAL_LABELED / len(ws):.2f} s, target <= 1 s)")


if __name__ == "__main__":
    main()
