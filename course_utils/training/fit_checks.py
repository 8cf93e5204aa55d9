"""What ``engine.fit`` checks and decides before it trains: every argument, with a message that
says the fix, the device and the memory format rule (``resolve_device``, ``use_channels_last``),
and the first batch's labels against the model's outputs (``check_label_range``).

Kept apart from the loop so that ``engine.fit`` reads top to bottom; each check
raises ``TypeError`` (wrong kind of object) or ``ValueError`` (wrong value).
"""
from __future__ import annotations

import torch
from torch import nn

from course_utils.core import env
from course_utils.core.checks import is_int, is_real

__all__ = ["MONITOR_CHOICES", "check_fit_arguments", "check_loader", "check_module", "check_label_range",
           "resolve_device", "use_channels_last"]

#: Scores ``fit(monitor=...)`` can select the best epoch by; losses are minimised, the rest maximised.
MONITOR_CHOICES = ("val_macro_f1", "val_acc", "val_loss", "train_loss", "train_acc")


def check_module(model) -> None:
    """Raise ``TypeError`` unless ``model`` is a ``torch.nn.Module``.

    Used by: course_utils.training.engine"""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")


def check_loader(loader, name: str) -> None:
    """Raise ``ValueError`` when the loader ``name`` is None or holds no batch.

    Used by: course_utils.training.engine"""
    if loader is None:
        raise ValueError(f"{name} is None; pass a DataLoader, e.g. data.make_loader(dataset, batch_size=128).")
    try:
        n = len(loader)
    except TypeError:
        return  # iterable without a length: checked when it yields nothing
    if n == 0:
        raise ValueError(f"{name} is empty (0 batches): check the split and the filters, or drop_last=True "
                         "with fewer samples than batch_size.")


def resolve_device(device) -> torch.device:
    """``device`` ('auto', 'cpu', 'cuda', 'mps' or a ``torch.device``) as a ``torch.device``: ``env.get_device``,
    which checks the type and availability, except that ``None`` (which ``env.get_device`` reads as "auto") is
    refused: ``fit`` takes "auto" by default and ``predict`` / ``evaluate`` read None as the model's device.

    Used by: course_utils.training.engine"""
    if device is None:
        raise TypeError("device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got None.")
    return env.get_device(device)


def check_fit_arguments(model, optimizer, loss_fn, epochs, monitor, grad_clip, early_stopping,
                         batch_transform, scheduler, resume, checkpoint_dir) -> None:
    """Check ``fit``'s arguments before any step; each error says how to fix the call.

    Used by: course_utils.training.engine"""
    check_module(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, e.g. torch.optim.AdamW(model.parameters(), "
                        f"lr=1e-3); got {type(optimizer).__name__}.")
    model_params = {id(p) for p in model.parameters()}
    if any(id(p) not in model_params for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("optimizer holds parameters that are not in model: it was built for another model. "
                         "Create it after the model: torch.optim.AdamW(model.parameters(), ...).")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (logits, labels) -> loss, e.g. nn.CrossEntropyLoss(); "
                        f"got {loss_fn!r}.")
    if not is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if monitor not in MONITOR_CHOICES:
        raise ValueError(f"monitor must be one of {MONITOR_CHOICES}, got {monitor!r}.")
    if grad_clip is not None and (not is_real(grad_clip) or not grad_clip > 0):
        raise ValueError(f"grad_clip must be None or a positive max gradient norm such as 1.0, got {grad_clip!r}.")
    if early_stopping is not None and (not is_int(early_stopping) or early_stopping < 1):
        raise ValueError(f"early_stopping must be None or a patience in epochs (positive integer), "
                         f"got {early_stopping!r}.")
    if batch_transform is not None and not callable(batch_transform):
        raise TypeError(f"batch_transform must be callable x -> x, got {batch_transform!r}.")
    if scheduler is not None and not hasattr(scheduler, "step"):
        raise TypeError(f"scheduler must be a torch.optim.lr_scheduler object, got {type(scheduler).__name__}.")
    if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("scheduler was built for another optimizer; build it from the optimizer passed to fit.")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        wanted = "min" if monitor.endswith("loss") else "max"
        if scheduler.mode != wanted:
            raise ValueError(f"ReduceLROnPlateau(mode={scheduler.mode!r}) is stepped with {monitor}, which should "
                             f"be {'minimised' if wanted == 'min' else 'maximised'}: use mode={wanted!r}.")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir: the folder where the interrupted run wrote last.pt.")


def check_label_range(y: torch.Tensor, logits: torch.Tensor) -> None:
    """Check a first batch: logits ``(batch, classes)``, integer labels in ``0..classes-1``.

    Used by: course_utils.training.engine"""
    if logits.ndim != 2:
        raise ValueError(f"The model must output logits of shape (batch, classes); got {tuple(logits.shape)}.")
    if y.dtype not in (torch.int64, torch.int32, torch.uint8, torch.int16):
        raise TypeError(f"Labels must be integer class indices, got dtype {y.dtype}.")
    low, high = int(y.min()), int(y.max())
    k = logits.shape[1]
    if low < 0:
        raise ValueError(f"Labels go down to {low}: unlabeled wafers (-1) cannot be trained on. "
                         "Load the data with keep_unlabeled=False or filter labels >= 0.")
    if high >= k:
        raise ValueError(f"Labels go up to {high} but the model outputs {k} classes; build the model with "
                         f"num_classes={high + 1} (or more), or check the labels.")


def use_channels_last(model: nn.Module, device: torch.device, channels_last: bool | str = "auto") -> bool:
    """The memory format rule of ``fit``, ``predict`` and ``evaluate``: ``True``/``False`` as given;
    ``"auto"``: channels-last (NHWC) when ``model`` has a ``Conv2d`` and ``device`` is a CPU (oneDNN's
    NHWC kernels: the course CNN trains about 1.4x faster on 2 threads) or a CUDA GPU (tensor cores
    read NHWC, no transposes under AMP); MPS keeps the contiguous format.

    Used by: course_utils.training.engine, tests/training/test_memory_format.py"""
    if channels_last == "auto":
        return torch.device(device).type in ("cpu", "cuda") and any(isinstance(m, nn.Conv2d) for m in model.modules())
    if not isinstance(channels_last, bool):
        raise ValueError(f"channels_last={channels_last!r} must be True, False or 'auto'.")
    return channels_last
