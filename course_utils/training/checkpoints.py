"""Checkpoints of the training loop: written atomically, read safely, resumed bit for bit.

A checkpoint (``last.pt`` / ``best.pt`` in ``fit(..., checkpoint_dir=DIR)``) holds
everything needed to continue a killed run exactly on CPU: model, optimizer,
scheduler, AMP scaler, the random states of Python, NumPy, torch (CPU and CUDA),
the loader's shuffling generator (``make_loader``'s ``rng_generators``) and a batch
transform's private generator, the epoch and the history. Everything is plain
tensors and Python types, so ``torch.load(weights_only=True)`` reads it.

>>> ckpt = checkpoints.load_checkpoint(out / "ckpt" / "best.pt", model)   # weights loaded into model
>>> ckpt["epoch"], ckpt["best_score"]
"""
from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_utils.core.config import atomic_write

__all__ = ["BEST_NAME", "LAST_NAME", "HISTORY_COLUMNS", "save_checkpoint", "load_checkpoint",
           "Progress", "record_epoch", "save_epoch", "resume_progress"]

BEST_NAME, LAST_NAME, _HISTORY_NAME = "best.pt", "last.pt", "history.csv"
#: Columns of ``FitResult.history`` (and ``history.csv``).
HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1",
                   "time_s", "elapsed_s")
_CHECKPOINT_FORMAT = 1


def _loader_generators(owner) -> list[torch.Generator]:
    """The ``torch.Generator`` objects that decide a loader's sample order (or a transform's draws).

    Read from public attributes only: ``rng_generators`` (set by ``data.make_loader``),
    else the ``generator`` of a plain ``DataLoader(..., generator=g)`` or of a
    ``BatchAugment``. A loader without either draws from torch's global generator,
    which the checkpoint stores anyway.
    """
    found = getattr(owner, "rng_generators", None)
    if found is None:
        found = [getattr(owner, "generator", None)]
    return [g for g in found if isinstance(g, torch.Generator)]


def _rng_state(train_loader, batch_transform) -> dict:
    """Every random state the next epoch depends on, as tensors and plain types."""
    np_state = np.random.get_state()
    state = {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": [g.get_state() for g in _loader_generators(train_loader)],
        "transform": [g.get_state() for g in _loader_generators(batch_transform)] if batch_transform else [],
    }
    return state


def _set_rng_state(state: dict, train_loader, batch_transform) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for owner, key in ((train_loader, "loader"), (batch_transform, "transform")):
        gens = _loader_generators(owner) if owner is not None else []
        if len(gens) != len(state[key]):
            raise ValueError(f"The checkpoint stored {len(state[key])} random generator(s) for the {key} but the "
                             f"current {key} has {len(gens)}: resume with the same loader/batch_transform setup "
                             "(e.g. make_loader(..., shuffle=True, seed=SEED)).")
        for gen, saved in zip(gens, state[key]):
            gen.set_state(saved)


def save_checkpoint(checkpoint: dict, path: str | os.PathLike) -> Path:
    """Write ``checkpoint`` with ``torch.save`` atomically (temp file + ``os.replace``); return the path.

    Used by: benchmarks/bench_engine.py, tests/training/test_engine.py"""
    path = Path(path)
    return atomic_write(path, lambda f: torch.save(checkpoint, f))


def _check_state_dict_matches(model: nn.Module, state: dict, path: Path) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        details = []
        if missing:
            details.append(f"missing in checkpoint: {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            details.append(f"not in the model: {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
        if shapes:
            details.append(f"different shapes (checkpoint vs model): {shapes[:3]}{' ...' if len(shapes) > 3 else ''}")
        raise ValueError(f"The checkpoint {path} was saved from a different model than {type(model).__name__} "
                         f"({'; '.join(details)}). Build the model with the same arguments, or use another "
                         "checkpoint_dir / resume=False to start a new run.")


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None, *,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`fit` (``torch.load(weights_only=True)``).

    With ``model`` given, its weights are replaced by the checkpoint's (after
    checking that layer names and shapes match). Returns the checkpoint dict:
    keys ``model``, ``optimizer``, ``optimizer_class``, ``scheduler``, ``scaler``, ``rng``, ``epoch``
    (1-based, completed), ``history`` (dict of lists), ``best_epoch``,
    ``best_score``, ``monitor``, ``model_class``.

    Taught in: 03_cnn_design"""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. fit(..., checkpoint_dir=DIR) writes DIR/{BEST_NAME} "
                                f"and DIR/{LAST_NAME}.")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"Could not read the checkpoint {path} ({type(exc).__name__}: {exc}). "
                         "The file is damaged or was not written by engine.fit; delete it and train again.") from exc
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"{path} is not an engine.fit checkpoint (no 'model' entry).")
    if model is not None:
        _check_state_dict_matches(model, checkpoint["model"], path)
        model.load_state_dict(checkpoint["model"])
    return checkpoint


@dataclass
class Progress:
    """What the loop carries from epoch to epoch (and a checkpoint stores)."""

    rows: list = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False
    best_state: dict | None = None
    start_epoch: int = 0  # epochs completed before this call (resume)


def _is_better(score: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(score)
    return score > best if mode == "max" else score < best


def record_epoch(state: Progress, model, row: dict, *, monitor: str, mode: str, epoch: int, epochs: int,
                 early_stopping: int | None) -> bool:
    """Update best score/weights and the early-stopping counter; return True if the epoch improved.

    Used by: course_utils.training.engine"""
    improved = _is_better(row[monitor], state.best_score, mode)
    if improved:
        state.best_score, state.best_epoch, state.bad_epochs = float(row[monitor]), epoch + 1, 0
        state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.bad_epochs += 1
    if early_stopping is not None and state.bad_epochs >= early_stopping and epoch + 1 < epochs:
        state.stopped_early = True
    return improved


def save_epoch(ckpt_dir: Path, state: Progress, model, optimizer, scheduler, scaler, train_loader,
                batch_transform, *, epoch: int, monitor: str, improved: bool) -> None:
    """Write last.pt (and best.pt when the epoch improved) and history.csv, each atomically.

    Used by: course_utils.training.engine"""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    history = pd.DataFrame(state.rows, columns=HISTORY_COLUMNS)
    checkpoint = {
        "format": _CHECKPOINT_FORMAT, "model_class": type(model).__name__,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "optimizer_class": type(optimizer).__name__,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(), "rng": _rng_state(train_loader, batch_transform),
        "epoch": epoch + 1, "history": history.to_dict("list"),
        "best_epoch": state.best_epoch, "best_score": state.best_score, "bad_epochs": state.bad_epochs,
        "stopped_early": state.stopped_early, "monitor": monitor,
    }
    # last.pt first: if the run is killed between the two writes, last.pt says
    # best_epoch == epoch and its own weights are the best ones (see resume).
    save_checkpoint(checkpoint, ckpt_dir / LAST_NAME)
    if improved:
        save_checkpoint(checkpoint, ckpt_dir / BEST_NAME)
    atomic_write(ckpt_dir / _HISTORY_NAME, lambda f: f.write(history.to_csv(index=False).encode("utf-8")))


def resume_progress(ckpt_dir: Path, model, optimizer, scheduler, scaler, train_loader, batch_transform, *,
            monitor: str, device: torch.device, verbose: bool) -> Progress:
    """The loop's state from ``ckpt_dir/last.pt`` (a new run when it does not exist yet).

    Used by: course_utils.training.engine"""
    last_path = ckpt_dir / LAST_NAME
    if not last_path.is_file():
        if verbose:
            print(f"resume=True but {last_path} does not exist yet: starting a new run.")
        return Progress()
    ckpt = load_checkpoint(last_path, model, map_location=device)
    if ckpt.get("monitor") != monitor:
        raise ValueError(f"{last_path} selected its best epoch by {ckpt.get('monitor')!r}, not {monitor!r}; "
                         "resume with the same monitor, or use resume=False.")
    _restore_training_state(ckpt, optimizer, scheduler, scaler, last_path)
    _set_rng_state(ckpt["rng"], train_loader, batch_transform)
    state = Progress(rows=pd.DataFrame(ckpt["history"]).to_dict("records"), best_score=ckpt["best_score"],
                      best_epoch=int(ckpt["best_epoch"]), bad_epochs=int(ckpt["bad_epochs"]),
                      stopped_early=bool(ckpt["stopped_early"]), start_epoch=int(ckpt["epoch"]))
    state.best_state = _best_state_after_resume(ckpt, ckpt_dir / BEST_NAME, device=device)
    if verbose:
        print(f"Resumed from {last_path} after epoch {state.start_epoch} (best epoch {state.best_epoch}, "
              f"{monitor}={state.best_score:.4f}).")
    return state


def _restore_training_state(ckpt: dict, optimizer, scheduler, scaler, path: Path) -> None:
    # torch loads one optimizer type's state into another without a word (AdamW's into SGD fails
    # later, in step, with KeyError 'momentum'), so the type is compared first
    saved = ckpt.get("optimizer_class", type(optimizer).__name__)  # absent in older checkpoints
    if saved != type(optimizer).__name__:
        raise ValueError(f"The optimizer state in {path} is from {saved}, not {type(optimizer).__name__}. Resume "
                         "with the same optimizer type and parameter groups, or use resume=False.")
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as exc:
        raise ValueError(f"The optimizer state in {path} does not fit this optimizer ({exc}). Resume with the "
                         "same optimizer type and parameter groups, or use resume=False.") from exc
    if (scheduler is None) != (ckpt["scheduler"] is None):
        raise ValueError(f"{path} was saved {'with' if ckpt['scheduler'] is not None else 'without'} an LR "
                         "scheduler; resume with the same scheduler setting as the interrupted run.")
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])


def _best_state_after_resume(ckpt: dict, best_path: Path, *, device: torch.device) -> dict:
    """Best weights for a resumed run: last.pt's own weights if its epoch was the best, else best.pt's.

    best.pt is read with :func:`load_checkpoint`, so a truncated or foreign file gets
    the same clear message as any checkpoint (naming the file and the way out).
    """
    if int(ckpt["best_epoch"]) == int(ckpt["epoch"]):
        return {k: v.clone() for k, v in ckpt["model"].items()}
    best = load_checkpoint(best_path, map_location=device) if best_path.is_file() else None
    if best is None or int(best["epoch"]) != int(ckpt["best_epoch"]):
        raise ValueError(f"{best_path} does not hold the best epoch ({ckpt['best_epoch']}) recorded in last.pt: "
                         "the checkpoint folder was changed by hand. Use resume=False to start over.")
    return dict(best["model"])
