"""The plumbing shared by the kit's losses: input checks, class vectors, reduction, a base class.

The losses the course teaches (cross entropy, focal, LDAM, balanced softmax) live in
:mod:`course_utils.training.losses`; each subclasses :class:`ClassLoss`, which checks logits
and targets once, skips ``ignore_index`` targets and reduces per-sample losses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["check_class_vector", "reduce_loss", "ClassLoss"]

#: What ``reduction=`` accepts, as in ``torch.nn.CrossEntropyLoss``.
_REDUCTIONS = ("mean", "sum", "none")

def _check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not one of {_REDUCTIONS}.")
    return reduction


def check_class_vector(value, name: str, num_classes: int | None) -> torch.Tensor | None:
    """A per-class vector (weights, alpha) as ``float32 (C,)``, or None.

    Used by: course_utils.training.losses"""
    if value is None:
        return None
    vec = torch.as_tensor(value, dtype=torch.float32).detach().cpu().flatten()
    if num_classes is not None and vec.numel() != num_classes:
        raise ValueError(f"{name} has {vec.numel()} entries but the loss has {num_classes} classes.")
    if vec.numel() < 2 or not torch.isfinite(vec).all() or (vec < 0).any():
        raise ValueError(f"{name} must hold one finite, non-negative number per class; got {vec.tolist()}.")
    return vec


def _check_logits_targets(logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None,
                         ignore_index: int | None = None) -> None:
    """Raise a clear ``ValueError``/``TypeError`` unless ``logits (N, C)`` and ``targets (N,)`` fit.

    ``num_classes`` (if given) must equal ``C``; targets must be integer class
    indices in ``[0, C)`` (``ignore_index`` is allowed too).
    """
    if not torch.is_tensor(logits) or not torch.is_tensor(targets):
        raise TypeError(
            f"logits and targets must be torch tensors; got {type(logits).__name__} and {type(targets).__name__}."
        )
    if logits.dim() != 2:
        raise ValueError(
            f"logits must have shape (N, C) = (batch, classes); got {tuple(logits.shape)}. "
            "Flatten the model output or check the final layer."
        )
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor; got {logits.dtype}.")
    if targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"targets must have shape (N,) = ({logits.shape[0]},) to match logits {tuple(logits.shape)}; "
            f"got {tuple(targets.shape)}. Pass class indices, not one-hot vectors."
        )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(f"targets must be integer class indices (torch.long); got {targets.dtype}.")
    n_cols = logits.shape[1]
    if num_classes is not None and n_cols != num_classes:
        raise ValueError(
            f"logits have {n_cols} columns but the loss was built for {num_classes} classes "
            "(the length of class_counts / weights). The model's last layer and the loss must agree."
        )
    valid = targets if ignore_index is None else targets[targets != ignore_index]
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= n_cols):
        raise ValueError(
            f"targets must lie in [0, {n_cols - 1}] for {n_cols} classes; got range "
            f"[{int(valid.min())}, {int(valid.max())}]. Drop unlabeled samples (-1) first."
        )


def reduce_loss(per_sample: torch.Tensor, sample_weight: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a ``(N,)`` loss like ``nn.CrossEntropyLoss``: ``mean`` divides by ``sum(sample_weight)``.

    Used by: course_utils.training.losses"""
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.sum() / sample_weight.sum()


class ClassLoss(nn.Module):
    """Base class: stores the number of classes, checks inputs, handles ignore_index."""

    #: True for losses that expect cosine logits from :class:`NormedLinear`.
    needs_normed_head = False

    def __init__(self, num_classes: int | None, reduction: str, ignore_index: int):
        super().__init__()
        self.num_classes = num_classes
        self.reduction = _check_reduction(reduction)
        self.ignore_index = int(ignore_index)

    def _prepare(self, logits, targets):
        """Check inputs; return (float32 logits, safe targets, keep mask as float).

        Logits are computed in float32 even under mixed precision (AMP), as
        ``nn.CrossEntropyLoss`` does under autocast.
        """
        _check_logits_targets(logits, targets, self.num_classes, self.ignore_index)
        keep = targets != self.ignore_index
        safe_targets = torch.where(keep, targets, torch.zeros_like(targets)).long()
        return logits.float(), safe_targets, keep.float()

    @staticmethod
    def _per_class(vec: torch.Tensor | None, targets: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``vec[targets]`` on the logits' device (ones when ``vec`` is None)."""
        if vec is None:
            return torch.ones_like(targets, dtype=like.dtype)
        return vec.to(device=like.device, dtype=like.dtype)[targets]

    def _weighted_ce(self, logits, safe, keep, weight: torch.Tensor | None) -> torch.Tensor:
        """Cross entropy of (already adjusted) logits with optional class weights; inputs from ``_prepare``."""
        per_sample = -F.log_softmax(logits, dim=1).gather(1, safe[:, None]).squeeze(1)
        w = self._per_class(weight, safe, logits) * keep
        return reduce_loss(per_sample * w, w, self.reduction)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, reduction={self.reduction!r}"


