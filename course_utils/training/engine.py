"""The course's training loop: a plain PyTorch loop you can read top to bottom.

>>> from course_utils.training import engine
>>> result = engine.fit(model, train_loader, val_loader, loss_fn=nn.CrossEntropyLoss(),
...                     optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3),
...                     epochs=10, device=device, checkpoint_dir=out / "ckpt")
>>> result.history              # one row per epoch (pandas)
>>> engine.evaluate(result.model, test_loader, device).report

What one epoch does (the same steps as torchvision's reference ``train.py``)::

    for x, y in train_loader:                 # batches of in-memory tensors
        x, y = x.to(device), y.to(device)
        x = batch_transform(x)                # optional augmentation on the device
        with autocast():                      # float16 on CUDA (AMP); off on CPU
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(); scaler.scale(loss).backward()
        clip_grad_norm_(...)                  # optional
        scaler.step(optimizer); scaler.update()
        scheduler.step()                      # only for per-batch schedules (OneCycleLR, CyclicLR)
    validate -> val loss, accuracy, macro-F1; scheduler.step() for per-epoch schedules
    save last.pt (and best.pt when the monitored score improved)

Design notes
------------
* The best epoch is chosen by validation macro-F1 by default: with ~85 % ``none``
  wafers, accuracy rewards a model that ignores the defect classes.
* Loss and correct counts are summed as tensors on the device; the loop calls
  ``.item()`` once per epoch, not once per batch (each ``.item()`` waits for the GPU).
* Checkpoints hold everything needed to continue a killed run bit for bit on
  CPU: model, optimizer, scheduler, AMP scaler, the random states of Python,
  NumPy, torch (CPU and CUDA), the loader's shuffling generator (and a batch
  transform's private generator), the epoch and the history. They are plain
  tensors and Python types, so ``torch.load(weights_only=True)`` reads them,
  and they are written atomically (temporary file + ``os.replace``).
"""
from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.core import env
from course_utils.training import checkpoints, fit_checks, metrics
from course_utils.training.checkpoints import BEST_NAME, HISTORY_COLUMNS, LAST_NAME
from course_utils.training.models import classifier_head

__all__ = ["HISTORY_COLUMNS", "FitResult", "EvaluationResult",
           "train_one_epoch", "predict", "evaluate", "fit"]

#: Schedulers that must step after every batch rather than every epoch.
_PER_BATCH_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : the trained model, holding the weights of the best epoch.
    history : DataFrame with columns ``HISTORY_COLUMNS``, one row per epoch (epoch is 1-based).
    best_epoch : 1-based epoch with the best monitored score.
    best_score : that score.
    monitor : name of the monitored column.
    best_path, last_path : checkpoint files (``None`` without ``checkpoint_dir``).
    stopped_early : True when early stopping ended the run.
    """

    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    best_score: float
    monitor: str
    best_path: Path | None = None
    last_path: Path | None = None
    stopped_early: bool = False

    def __repr__(self) -> str:
        return (f"FitResult(epochs={len(self.history)}, best_epoch={self.best_epoch}, "
                f"{self.monitor}={self.best_score:.4f}, stopped_early={self.stopped_early}, "
                f"best_path={self.best_path})")


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns.

    ``y_true``, ``y_pred``: int64 ``(N,)``; ``probs``: float32 ``(N, K)`` softmax
    probabilities; ``report``: :func:`metrics.classification_report_df`;
    ``confusion``: :func:`metrics.confusion_matrix_df` normalised by actual label.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    report: pd.DataFrame
    confusion: pd.DataFrame
    accuracy: float = field(init=False)
    macro_f1: float = field(init=False)

    def __post_init__(self) -> None:
        # from the predictions themselves, not read back from the report (which is rounded for display)
        self.accuracy = float((np.asarray(self.y_true) == np.asarray(self.y_pred)).mean())
        self.macro_f1 = metrics.macro_f1(self.y_true, self.y_pred)

    def __repr__(self) -> str:
        return f"EvaluationResult(n={len(self.y_true)}, accuracy={self.accuracy:.4f}, macro_f1={self.macro_f1:.4f})"


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _split_batch(batch, loader_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"{loader_name} must yield (x, y) batches, got {type(batch).__name__}. "
                        "Build it with data.make_loader(data.WaferDataset(...), ...).")
    return batch[0], batch[1]


def _format_duration(seconds: float) -> str:
    return str(timedelta(seconds=int(round(seconds))))


# ---------------------------------------------------------------------------
# One epoch of training, one pass of evaluation
# ---------------------------------------------------------------------------
def train_one_epoch(model: nn.Module, loader, *, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    device: torch.device, scaler: torch.amp.GradScaler, use_amp: bool = False,
                    channels_last: bool = False, grad_clip: float | None = None, batch_scheduler=None,
                    batch_transform: Callable | None = None, check_labels: bool = False,
                    progress: tqdm | None = None) -> tuple[float, float]:
    """Train for one pass over ``loader``; return ``(mean loss, accuracy)`` on the training batches.

    ``check_labels`` validates the first batch's labels against the model's
    number of outputs (one GPU sync). ``batch_scheduler`` is stepped after
    every optimizer step.
    Taught in: 03_cnn_design"""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    non_blocking = device.type == "cuda"
    for batch in loader:
        x, y = _split_batch(batch, "train_loader")
        x = x.to(device, non_blocking=non_blocking)
        y = y.to(device, non_blocking=non_blocking)
        if batch_transform is not None:
            x = batch_transform(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(x)
            if check_labels:
                fit_checks.check_label_range(y, logits)
                check_labels = False
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()
        n = y.shape[0]
        loss_sum += loss.detach().float() * n
        correct += (logits.detach().argmax(1) == y).sum()
        seen += n
        if progress is not None:
            progress.update()
    if seen == 0:
        raise ValueError("train_loader yielded no batches; check the dataset and batch_size/drop_last.")
    return loss_sum.item() / seen, correct.item() / seen


@torch.no_grad()
def _forward_all(model: nn.Module, loader, device: torch.device, *, loss_fn: Callable | None = None,
                 use_amp: bool = False, channels_last: bool = False, loader_name: str = "loader"):
    """Run ``model`` over ``loader`` in eval mode; return ``(y_true, logits, mean loss or None)`` on the device."""
    model.eval()
    ys, outs = [], []
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    non_blocking = device.type == "cuda"
    for batch in loader:
        x, y = _split_batch(batch, loader_name)
        x = x.to(device, non_blocking=non_blocking)
        y = y.to(device, non_blocking=non_blocking)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(x)
            if loss_fn is not None:
                loss_sum += loss_fn(logits, y).float() * y.shape[0]
        ys.append(y)
        outs.append(logits.float())
    if not ys:
        raise ValueError(f"{loader_name} yielded no batches; nothing to evaluate.")
    y_true, logits = torch.cat(ys), torch.cat(outs)
    mean_loss = loss_sum.item() / len(y_true) if loss_fn is not None else None
    return y_true, logits, mean_loss


def predict(model: nn.Module, loader, device=None, *, amp: bool = False,
            channels_last: bool | str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predict every batch of ``loader``.

    Parameters
    ----------
    model : nn.Module returning logits ``(B, K)``.
    loader : yields ``(x, y)`` batches (``y`` may be -1 for unlabeled wafers).
    device : "auto", "cpu", "cuda", torch.device or None (the model's device).
    amp : float16 autocast on CUDA (faster, probabilities differ in the 3rd-4th decimal).
    channels_last : memory format, as in ``fit`` (``"auto"``: ``fit_checks.use_channels_last``).

    Returns
    -------
    y_true : int64 ``(N,)``, y_pred : int64 ``(N,)`` (argmax), probs : float32 ``(N, K)`` softmax.
    Taught in: 03_cnn_design"""
    fit_checks.check_module(model)
    fit_checks.check_loader(loader, "loader")
    device = _model_device(model) if device is None else fit_checks.resolve_device(device)
    channels_last = fit_checks.use_channels_last(model, device, channels_last)
    _place(model, None, device, channels_last=channels_last)
    y_true, logits, _ = _forward_all(model, loader, device, use_amp=amp and device.type == "cuda",
                                     channels_last=channels_last)
    probs = torch.softmax(logits, dim=1)
    return (y_true.cpu().numpy().astype(np.int64), probs.argmax(1).cpu().numpy().astype(np.int64),
            probs.cpu().numpy().astype(np.float32))


def evaluate(model: nn.Module, loader, device=None, class_names: Sequence[str] | None = None, *,
             amp: bool = False, channels_last: bool | str = "auto") -> EvaluationResult:
    """Predict ``loader`` and build the classification report and confusion matrix.

    Returns an :class:`EvaluationResult` with ``y_true``, ``y_pred``, ``probs``,
    ``report`` (per-class precision/recall/F1/support, accuracy, macro and
    weighted averages), ``confusion`` (rows normalised by actual label),
    ``accuracy`` and ``macro_f1``.
    Taught in: 03_cnn_design"""
    y_true, y_pred, probs = predict(model, loader, device, amp=amp, channels_last=channels_last)
    if class_names is not None and probs.shape[1] != len(class_names):
        raise ValueError(f"The model outputs {probs.shape[1]} classes but class_names has {len(class_names)} "
                         "names; pass the matching class_names.")
    class_names = metrics.class_names_or_ids(class_names, probs.shape[1])
    return EvaluationResult(y_true=y_true, y_pred=y_pred, probs=probs,
                            report=metrics.classification_report_df(y_true, y_pred, class_names),
                            confusion=metrics.confusion_matrix_df(y_true, y_pred, class_names, normalize="true"))


# ---------------------------------------------------------------------------
# fit, and its steps, each named for what it does
# ---------------------------------------------------------------------------
def _print_header(epochs: int) -> None:
    width = max(5, 2 * len(str(epochs)) + 1)
    print(f"{'Epoch':>{width}}  Best  Acc/trn  Acc/val  macro-F1/val  loss trn/val   Time/e   Elapsed  "
          "Expected end", flush=True)


def _print_row(row: dict, epochs: int, improved: bool, mean_epoch_s: float) -> None:
    """One line per epoch; the expected end extrapolates the mean epoch time of this run."""
    width = max(5, 2 * len(str(epochs)) + 1)
    remaining = mean_epoch_s * (epochs - row["epoch"])
    end = datetime.now() + timedelta(seconds=remaining)
    losses = f"{row['train_loss']:.4f}/{row['val_loss']:.4f}"
    print(f"{str(row['epoch']) + '/' + str(epochs):>{width}}  {'+' if improved else '-':^4}  "
          f"{row['train_acc']:7.4f}  {row['val_acc']:7.4f}  {row['val_macro_f1']:12.4f}  {losses:<13}  "
          f"{row['time_s']:6.1f}s  {_format_duration(row['elapsed_s']):>8}  "
          f"{end:%Y-%m-%d %H:%M} (in {remaining / 3600:.2f} h)", flush=True)


def fit(model: nn.Module, train_loader, val_loader, *, loss_fn: Callable, optimizer: torch.optim.Optimizer,
        epochs: int, device="auto", scheduler=None, amp: bool = True, channels_last: bool | str = "auto",
        grad_clip: float | None = None, early_stopping: int | None = None, monitor: str = "val_macro_f1",
        checkpoint_dir: str | os.PathLike | None = None, resume: bool = False, batch_transform: Callable | None = None,
        class_names: Sequence[str] | None = None, verbose: bool = True) -> FitResult:
    """Train ``model`` and keep the epoch with the best validation score.

    Parameters
    ----------
    model : nn.Module mapping ``float32 (B, C, H, W)`` to logits ``(B, K)``.
    train_loader, val_loader : DataLoaders yielding ``(x, y)``, ``y`` int64 class indices.
    loss_fn : callable ``(logits, y) -> scalar loss``. If it has ``set_epoch(epoch)``
        it is called with the 0-based epoch before every epoch (e.g. LDAM-DRW).
    optimizer : built on ``model.parameters()``.
    epochs : total number of epochs (a resumed run continues up to this number).
    device : "auto", "cpu", "cuda", "mps" or torch.device; the model is moved there.
    scheduler : any ``torch.optim.lr_scheduler``. ``OneCycleLR``/``CyclicLR`` step after every batch,
        ``ReduceLROnPlateau`` after every epoch with the monitored score, all others after every epoch.
    amp : mixed precision (float16 autocast + ``GradScaler``) on CUDA; ignored on CPU/MPS.
    channels_last : convert model and batches to the channels-last (NHWC) memory format; ``"auto"`` (default)
        does so for a model with 2-D convolutions on CPU or CUDA (``fit_checks.use_channels_last``), never on MPS.
    grad_clip : clip the global gradient norm to this value (``None``: no clipping).
    early_stopping : stop after this many epochs without improvement of ``monitor``.
    monitor : one of ``fit_checks.MONITOR_CHOICES``; default validation macro-F1.
    checkpoint_dir : folder for ``best.pt``, ``last.pt`` and ``history.csv`` (``None``: best weights in memory only).
    resume : continue from ``checkpoint_dir/last.pt`` if it exists (same model, optimizer, scheduler, loaders and
        transform as the interrupted run); on CPU the result is bit-identical to a run never interrupted.
    batch_transform : callable applied to every training batch ``x`` on the device.
    class_names : used to check the model's number of outputs on the first batch.
    verbose : print one table row per epoch and show tqdm progress bars.

    Returns
    -------
    FitResult; ``result.model`` is ``model`` with the best epoch's weights loaded.

    Raises
    ------
    ValueError for inconsistent inputs (label range vs model outputs, empty loaders, a checkpoint of another
    model), FloatingPointError when the training loss becomes NaN/inf (the last good checkpoint is kept).
    Taught in: 03_cnn_design"""
    run, state = _set_up(model, train_loader, val_loader, loss_fn, optimizer, epochs=epochs, device=device,
                         scheduler=scheduler, amp=amp, channels_last=channels_last, grad_clip=grad_clip,
                         early_stopping=early_stopping, monitor=monitor, checkpoint_dir=checkpoint_dir,
                         resume=resume, batch_transform=batch_transform, class_names=class_names, verbose=verbose)
    for epoch in range(state.start_epoch, epochs):
        if state.stopped_early:
            break
        epoch_start = time.perf_counter()
        if hasattr(loss_fn, "set_epoch"):
            loss_fn.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = _train_epoch(run, model, train_loader, loss_fn, optimizer, epoch=epoch,
                                             first=epoch == state.start_epoch)
        _stop_if_diverged(train_loss, epoch, run.ckpt_dir)
        row = {"epoch": epoch + 1, "lr": float(lr), "train_loss": train_loss, "train_acc": train_acc,
               **_validate(run, model, val_loader, loss_fn)}
        now = time.perf_counter()
        row.update(time_s=now - epoch_start, elapsed_s=run.elapsed_before + now - run.start_time)
        _end_epoch(run, state, model, optimizer, train_loader, row, epoch=epoch, now=now)
    return _finish(model, state, monitor=monitor, ckpt_dir=run.ckpt_dir)


@dataclass
class _Run:
    """What :func:`fit` sets up once for its per-epoch steps: options, device, AMP scaler, clock."""

    epochs: int
    monitor: str
    mode: str  # "max", or "min" for a monitored loss
    early_stopping: int | None
    grad_clip: float | None
    scheduler: object
    batch_scheduler: object  # the scheduler when it steps after every batch, else None
    batch_transform: Callable | None
    class_names: Sequence[str] | None
    verbose: bool
    device: torch.device
    channels_last: bool
    use_amp: bool
    scaler: torch.amp.GradScaler
    ckpt_dir: Path | None
    elapsed_before: float = 0.0  # seconds spent by the epochs of a resumed run
    start_time: float = 0.0


def _set_up(model, train_loader, val_loader, loss_fn, optimizer, *, epochs, device, scheduler, amp, channels_last,
            grad_clip, early_stopping, monitor, checkpoint_dir, resume, batch_transform, class_names,
            verbose) -> tuple[_Run, checkpoints.Progress]:
    """Check ``fit``'s arguments, place the model, resume from ``last.pt`` if asked, start the clock."""
    fit_checks.check_fit_arguments(model, optimizer, loss_fn, epochs, monitor, grad_clip, early_stopping,
                         batch_transform, scheduler, resume, checkpoint_dir)
    fit_checks.check_loader(train_loader, "train_loader")
    fit_checks.check_loader(val_loader, "val_loader")
    device = fit_checks.resolve_device(device)
    channels_last = fit_checks.use_channels_last(model, device, channels_last)
    _place(model, loss_fn, device, channels_last=channels_last)
    if device.type == "cpu":
        env.keep_freed_memory()
    use_amp = bool(amp) and device.type == "cuda"
    run = _Run(epochs=epochs, monitor=monitor, mode="min" if monitor.endswith("loss") else "max",
               early_stopping=early_stopping, grad_clip=grad_clip, scheduler=scheduler,
               batch_scheduler=scheduler if isinstance(scheduler, _PER_BATCH_SCHEDULERS) else None,
               batch_transform=batch_transform, class_names=class_names, verbose=verbose, device=device,
               channels_last=channels_last, use_amp=use_amp, scaler=torch.amp.GradScaler("cuda", enabled=use_amp),
               ckpt_dir=Path(checkpoint_dir) if checkpoint_dir is not None else None)
    state = checkpoints.Progress()
    if resume:
        state = checkpoints.resume_progress(run.ckpt_dir, model, optimizer, scheduler, run.scaler, train_loader,
                                            batch_transform, monitor=monitor, device=device, verbose=verbose)
    run.elapsed_before = state.rows[-1]["elapsed_s"] if state.rows else 0.0
    run.start_time = time.perf_counter()
    if verbose and state.start_epoch < epochs and not state.stopped_early:
        _print_header(epochs)
    return run, state


def _place(model: nn.Module, loss_fn, device: torch.device, *, channels_last: bool) -> None:
    """Move model (and a loss with buffers) to the device, in channels-last format if asked."""
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)


def _train_epoch(run: _Run, model, train_loader, loss_fn, optimizer, *, epoch: int, first: bool) -> tuple[float, float]:
    """:func:`train_one_epoch` under a tqdm bar; the ``first`` epoch of a call also checks labels and class names."""
    progress = tqdm(total=len(train_loader) if hasattr(train_loader, "__len__") else None,
                    desc=f"epoch {epoch + 1}/{run.epochs}", leave=False, mininterval=1.0, disable=not run.verbose)
    try:
        train_loss, train_acc = train_one_epoch(
            model, train_loader, loss_fn=loss_fn, optimizer=optimizer, device=run.device, scaler=run.scaler,
            use_amp=run.use_amp, channels_last=run.channels_last, grad_clip=run.grad_clip,
            batch_scheduler=run.batch_scheduler, batch_transform=run.batch_transform,
            check_labels=first, progress=progress)
    finally:
        progress.close()
    if first:
        _warn_on_class_names(model, run.class_names)
    return train_loss, train_acc


def _validate(run: _Run, model, val_loader, loss_fn) -> dict:
    """Validation columns of one history row: loss, accuracy, macro-F1."""
    y_val, val_logits, val_loss = _forward_all(model, val_loader, run.device, loss_fn=loss_fn, use_amp=run.use_amp,
                                               channels_last=run.channels_last, loader_name="val_loader")
    y_val_np = y_val.cpu().numpy()
    val_pred = val_logits.argmax(1).cpu().numpy()
    return {"val_loss": val_loss, "val_acc": float((val_pred == y_val_np).mean()),
            "val_macro_f1": metrics.macro_f1(y_val_np, val_pred)}


def _end_epoch(run: _Run, state: checkpoints.Progress, model, optimizer, train_loader, row: dict, *, epoch: int,
               now: float) -> None:
    """Book an epoch's history ``row``: step a per-epoch scheduler, update the best weights and early stopping,
    write the checkpoints and print the table row (``now``: the clock at the end of the epoch)."""
    state.rows.append(row)
    if run.scheduler is not None and run.batch_scheduler is None:
        is_plateau = isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        run.scheduler.step(row[run.monitor]) if is_plateau else run.scheduler.step()
    improved = checkpoints.record_epoch(state, model, row, monitor=run.monitor, mode=run.mode, epoch=epoch,
                                        epochs=run.epochs, early_stopping=run.early_stopping)
    if run.ckpt_dir is not None:
        checkpoints.save_epoch(run.ckpt_dir, state, model, optimizer, run.scheduler, run.scaler, train_loader,
                               run.batch_transform, epoch=epoch, monitor=run.monitor, improved=improved)
    if run.verbose:
        _print_row(row, run.epochs, improved, (now - run.start_time) / (epoch + 1 - state.start_epoch))
        if state.stopped_early:
            print(f"Early stopping: {run.monitor} has not improved for {state.bad_epochs} epochs "
                  f"(best {state.best_score:.4f} at epoch {state.best_epoch}).")


def _warn_on_class_names(model: nn.Module, class_names: Sequence[str] | None) -> None:
    outputs = None if class_names is None else _num_outputs(model)
    if outputs is not None and outputs != len(class_names):
        warnings.warn(f"The model outputs {outputs} classes but class_names has {len(class_names)} names; "
                      "reports will mislabel classes. Pass class_names=...", stacklevel=4)


def _stop_if_diverged(train_loss: float, epoch: int, ckpt_dir: Path | None) -> None:
    if math.isfinite(train_loss):
        return
    kept = (f"The last good checkpoint (epoch {epoch}) is kept at {ckpt_dir / LAST_NAME}." if ckpt_dir and epoch
            else "No checkpoint was written.")
    raise FloatingPointError(
        f"The training loss of epoch {epoch + 1} is {train_loss}: training diverged. {kept} "
        "Lower the learning rate, set grad_clip=1.0, or check the inputs and loss for NaN/inf.")


def _finish(model, state: checkpoints.Progress, *, monitor: str, ckpt_dir: Path | None) -> FitResult:
    """Load the best epoch's weights into ``model`` and build the result."""
    if state.best_state is None:  # every epoch's score was NaN (e.g. NaN logits in eval mode)
        raise ValueError(f"{monitor} was NaN in every epoch; check the model's outputs and the validation data.")
    model.load_state_dict(state.best_state)
    history = pd.DataFrame(state.rows, columns=HISTORY_COLUMNS)
    history["epoch"] = history["epoch"].astype(int)
    best_path = ckpt_dir / BEST_NAME if ckpt_dir else None
    return FitResult(model=model, history=history, best_epoch=state.best_epoch, best_score=float(state.best_score),
                     monitor=monitor, best_path=best_path if best_path and best_path.is_file() else None,
                     last_path=ckpt_dir / LAST_NAME if ckpt_dir else None, stopped_early=state.stopped_early)


def _num_outputs(model: nn.Module) -> int | None:
    """Classes the model's classifier layer outputs (``None`` if it has none)."""
    try:
        return classifier_head(model)[1].out_features
    except ValueError:
        return None


