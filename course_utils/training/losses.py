"""Losses for imbalanced classification: weighted CE, focal, LDAM-DRW, balanced softmax.

WM-811K's classes range from 149 wafers (Near-full) to 147,431 (none). Plain
cross entropy then learns "predict none" first; the losses here change *how much*
each class's mistakes cost (weights), *how confident* the model must be before a
sample stops counting (focal), *how large a margin* rare classes get (LDAM), or
*which prior* the softmax assumes (balanced softmax / logit adjustment).

Every loss is called as ``loss_fn(logits, targets)`` with

* ``logits``: ``float`` tensor ``(N, C)``, raw class scores (no softmax);
* ``targets``: ``int64`` tensor ``(N,)`` of class indices in ``[0, C)``;

and returns a scalar (``reduction="mean"`` or ``"sum"``) or a ``(N,)`` tensor
(``reduction="none"``). Wrong shapes, dtypes or class numbers raise a
``ValueError`` that says what to fix.

>>> from course_utils.training import losses
>>> counts = train_ds.class_counts()                     # (9,) wafers per class
>>> loss_fn = losses.make_loss("ldam_drw", counts, drw_start_epoch=24)
>>> if loss_fn.needs_normed_head:
...     losses.use_normed_head(model)                     # cosine logits for LDAM
>>> engine.fit(model, ..., loss_fn=loss_fn)               # fit() calls loss_fn.set_epoch(e)

Names accepted by :func:`make_loss`: see :data:`LOSS_NAMES`.
"""
from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.core.checks import is_real
from course_utils.training.loss_base import ClassLoss, check_class_vector, reduce_loss
from course_utils.training.models import NormedLinear, classifier_head

__all__ = ["WEIGHT_SCHEMES", "class_weights", "CrossEntropyLoss", "FocalLoss", "ldam_margins", "LDAMLoss",
           "use_normed_head", "BalancedSoftmaxLoss", "make_loss"]

#: Loss names accepted by :func:`make_loss`, with a one-line description.
LOSS_NAMES: dict[str, str] = {
    "ce": "cross entropy",
    "weighted_ce": "cross entropy with class weights ('balanced' or 'effective' numbers)",
    "focal": "focal loss (Lin et al. 2017)",
    "ldam": "label-distribution-aware margin loss (Cao et al. 2019)",
    "ldam_drw": "LDAM with deferred re-weighting (Cao et al. 2019)",
    "balanced_softmax": "balanced softmax / logit adjustment (Ren et al. 2020, Menon et al. 2021)",
}
WEIGHT_SCHEMES = ("balanced", "effective", "inverse")


# ---------------------------------------------------------------------------
# Input checks and class weights
# ---------------------------------------------------------------------------
def check_class_counts(class_counts, *, num_classes: int | None = None, allow_zero: bool = False) -> np.ndarray:
    """Validate training-set class counts; return them as ``int64 (C,)``.

    Parameters
    ----------
    class_counts : array-like ``(C,)`` of non-negative integers
        Training samples per class, e.g. ``WaferDataset.class_counts()``.
    num_classes : int or None
        If given, ``class_counts`` must have exactly this many entries.
    allow_zero : bool
        Losses whose formula divides by a count (weights, margins, priors)
        need every class to have at least one sample.
    """
    if torch.is_tensor(class_counts):
        class_counts = class_counts.detach().cpu().numpy()
    counts = np.asarray(class_counts)
    if counts.ndim != 1 or counts.size < 2:
        raise ValueError(
            f"class_counts must be a 1-D sequence with one count per class (at least 2 classes); "
            f"got shape {counts.shape}. Use e.g. train_ds.class_counts()."
        )
    if not np.issubdtype(counts.dtype, np.number) or np.any(counts != np.round(counts)) or np.any(counts < 0):
        raise ValueError(f"class_counts must hold non-negative whole numbers; got {counts.tolist()}.")
    counts = counts.astype(np.int64)
    if num_classes is not None and len(counts) != num_classes:
        raise ValueError(
            f"class_counts has {len(counts)} entries but num_classes={num_classes}; "
            "pass one count per class, in label order."
        )
    if not allow_zero and np.any(counts == 0):
        raise ValueError(
            f"class_counts has zeros for class indices {np.flatnonzero(counts == 0).tolist()} "
            f"(counts {counts.tolist()}). This loss divides by the counts, so every class needs at least "
            "one training sample: check the split, or drop the empty classes."
        )
    return counts


def effective_number_weights(class_counts, beta: float) -> np.ndarray:
    """Class-balanced weights from the effective number of samples (Cui et al. 2019).

    ``E_c = (1 - beta ** n_c) / (1 - beta)``, ``w_c = (1 / E_c) * C / sum_k (1 / E_k)``:
    ``float64 (C,)`` weights that sum to ``C``. ``beta = 0`` gives equal weights,
    ``beta -> 1`` inverse frequency. Counts must be positive (see :func:`check_class_counts`).
    """
    if not is_real(beta) or not 0 <= beta < 1:
        raise ValueError(f"beta={beta!r} must be a number in [0, 1) (Cui et al. use 0.9 - 0.9999).")
    counts = np.asarray(class_counts, dtype=np.float64)
    effective_num = (1.0 - np.power(beta, counts)) / (1.0 - beta)
    weights = 1.0 / effective_num
    return weights * len(counts) / weights.sum()


def class_weights(class_counts, *, scheme: str = "balanced", beta: float = 0.9999,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Per-class loss (or sampling) weights ``(C,)`` (``dtype``, default ``float32``) from training-set class counts.

    The kit's one class-weights function: losses (weighted CE, focal alpha,
    DRW) and samplers (:func:`course_utils.classification.balance.sample_weights`) all use it.

    ``scheme="balanced"`` -- scikit-learn's ``compute_class_weight("balanced")``::

        w_c = n / (C * n_c)            (n = total samples, C = number of classes)

    ``scheme="effective"`` -- effective number of samples (Cui et al. 2019)::

        E_c = (1 - beta ** n_c) / (1 - beta),   w_c = (1 / E_c) * C / sum_k (1 / E_k)

    ``beta = 0`` gives equal weights, ``beta -> 1`` inverse frequency; the
    weights are normalised to sum to ``C`` (as Cui et al. and Cao et al. do).

    ``scheme="inverse"`` -- ``w_c = 1 / n_c`` (a sampler then draws every class equally often).

    >>> loss_fn = nn.CrossEntropyLoss(weight=class_weights(train_ds.class_counts()).to(device))
    Taught in: 02_augmentation"""
    counts = check_class_counts(class_counts).astype(np.float64)
    if scheme not in WEIGHT_SCHEMES:
        raise ValueError(f"scheme={scheme!r} is not one of {WEIGHT_SCHEMES}.")
    if scheme == "balanced":
        weights = counts.sum() / (len(counts) * counts)
    elif scheme == "inverse":
        weights = 1.0 / counts
    else:
        weights = effective_number_weights(counts, beta)
    return torch.as_tensor(weights, dtype=dtype)


# ---------------------------------------------------------------------------
# Cross entropy (plain and class-weighted)
# ---------------------------------------------------------------------------
class CrossEntropyLoss(ClassLoss):
    """Cross entropy, optionally with class weights.

    For a sample with logits ``z`` (``C`` scores) and true class ``y``::

        p = softmax(z),   loss = -w_y * log p_y

    With ``reduction="mean"`` the batch loss is ``sum_i loss_i / sum_i w_{y_i}``
    (exactly ``torch.nn.CrossEntropyLoss(weight=w)``); without weights, ``w = 1``.

    Parameters
    ----------
    weight : array-like ``(C,)`` or None
        Class weights, e.g. :func:`class_weights`.
    num_classes : int or None
        Checked against the logits' columns (taken from ``weight`` if omitted).
    reduction : {"mean", "sum", "none"}
    ignore_index : int
        Targets equal to it contribute nothing.
    """

    def __init__(self, weight=None, *, num_classes: int | None = None, reduction: str = "mean",
                 ignore_index: int = -100):
        weight = check_class_vector(weight, "weight", num_classes)
        if num_classes is None and weight is not None:
            num_classes = weight.numel()
        super().__init__(num_classes, reduction, ignore_index)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._weighted_ce(*self._prepare(logits, targets), self.weight)


# ---------------------------------------------------------------------------
# Focal loss
# ---------------------------------------------------------------------------
class FocalLoss(ClassLoss):
    """Multi-class focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection").

    For a sample with true class ``y`` and predicted probability ``p_y = softmax(z)_y``::

        loss = -alpha_y * (1 - p_y) ** gamma * log p_y

    The factor ``(1 - p_y) ** gamma`` shrinks the loss of samples the model
    already gets right with confidence (easy, usually majority-class wafers),
    so training concentrates on hard ones. ``gamma = 0`` is cross entropy;
    Lin et al. use ``gamma = 2``.

    With ``reduction="mean"`` the batch loss is ``sum_i loss_i / sum_i alpha_{y_i}``,
    so ``FocalLoss(gamma=0, alpha=w)`` equals ``nn.CrossEntropyLoss(weight=w)``.

    Parameters
    ----------
    gamma : float >= 0
        Focusing parameter.
    alpha : array-like ``(C,)`` or None
        Per-class weights (None: all 1).
    num_classes : int or None
        Checked against the logits' columns (taken from ``alpha`` if omitted).
    reduction : {"mean", "sum", "none"}
    ignore_index : int
    """

    def __init__(self, gamma: float = 2.0, alpha=None, *, num_classes: int | None = None,
                 reduction: str = "mean", ignore_index: int = -100):
        if not isinstance(gamma, numbers.Real) or not math.isfinite(gamma) or gamma < 0:
            raise ValueError(f"gamma={gamma!r} must be a finite number >= 0 (0 = cross entropy; Lin et al. use 2).")
        alpha = check_class_vector(alpha, "alpha", num_classes)
        if num_classes is None and alpha is not None:
            num_classes = alpha.numel()
        super().__init__(num_classes, reduction, ignore_index)
        self.gamma = float(gamma)
        self.register_buffer("alpha", alpha)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, safe, keep = self._prepare(logits, targets)
        log_p = F.log_softmax(logits, dim=1).gather(1, safe[:, None]).squeeze(1)
        # 1 - p_y computed as -expm1(log p_y) (accurate when p_y ~ 1); the clamp keeps the
        # gradient of (1 - p)^gamma finite for 0 < gamma < 1
        one_minus_p = (-torch.expm1(log_p)).clamp_min(1e-12)
        per_sample = -(one_minus_p ** self.gamma) * log_p
        w = self._per_class(self.alpha, safe, logits) * keep
        return reduce_loss(per_sample * w, w, self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, " + super().extra_repr()


# ---------------------------------------------------------------------------
# LDAM with deferred re-weighting, and the normalised head it expects
# ---------------------------------------------------------------------------
def ldam_margins(class_counts, max_m: float = 0.5) -> torch.Tensor:
    """LDAM margins ``float32 (C,)``: ``m_c = max_m * n_c^(-1/4) / max_k n_k^(-1/4)``.

    The rarest class gets the largest margin ``max_m``; a class with 16x more
    samples gets half of it (``16^(-1/4) = 1/2``).
    Taught in: 06_loss_comparison"""
    if not isinstance(max_m, numbers.Real) or not math.isfinite(max_m) or max_m < 0:
        raise ValueError(f"max_m={max_m!r} must be a finite number >= 0 (Cao et al. use 0.5; 0 = no margins).")
    counts = check_class_counts(class_counts).astype(np.float64)
    inv_quarter = counts ** -0.25
    return torch.as_tensor(max_m * inv_quarter / inv_quarter.max(), dtype=torch.float32)


class LDAMLoss(ClassLoss):
    """Label-distribution-aware margin loss with optional deferred re-weighting (Cao et al. 2019).

    A rare class ``c`` gets a larger margin ``m_c ~ n_c^(-1/4)`` (see
    :func:`ldam_margins`): the true class's logit is lowered by ``m_y`` before
    the softmax, so the model must separate rare classes by a wider gap::

        z'_j = z_j - m_y * [j == y]
        loss = -w_y * log softmax(s * z')_y

    ``z`` are cosine similarities in ``[-1, 1]`` from a :class:`NormedLinear`
    head (call :func:`use_normed_head` on the model); ``s`` scales them back to a
    range where the softmax can become confident. Without the normalised head,
    ``s = 30`` multiplies raw logits of any size: the loss explodes and the run
    can collapse to predicting one class (a warning is shown when the first
    batch, or any batch of an epoch that :meth:`set_epoch` closes, has
    ``|logit| > 1``).

    Deferred re-weighting (DRW): the engine calls :meth:`set_epoch` before every
    epoch. Before ``drw_start_epoch`` the weights are ``w = 1``; from then on
    they are effective-number weights (Cui et al. 2019, ``beta``) -- first learn
    features from all data, then re-balance the decision boundary.

    Parameters
    ----------
    class_counts : array-like ``(C,)`` of positive integers (training set)
    max_m : float >= 0
        Largest margin (rarest class). Cao et al.: 0.5.
    s : float > 0
        Logit scale. Cao et al.: 30.
    drw_start_epoch : int or None
        0-based epoch where re-weighting starts; None = never (plain LDAM).
        Cao et al. switch at 80 % of training (epoch 160 of 200).
    beta : float in [0, 1)
        Effective-number parameter of the DRW weights (Cao et al.: 0.9999).
    reduction : {"mean", "sum", "none"}
    ignore_index : int
    """

    needs_normed_head = True

    def __init__(self, class_counts, *, max_m: float = 0.5, s: float = 30.0, drw_start_epoch: int | None = None,
                 beta: float = 0.9999, reduction: str = "mean", ignore_index: int = -100):
        counts = check_class_counts(class_counts)
        if not isinstance(s, numbers.Real) or not math.isfinite(s) or s <= 0:
            raise ValueError(f"s={s!r} must be a finite number > 0 (Cao et al. use 30 with a NormedLinear head).")
        if drw_start_epoch is not None and (not isinstance(drw_start_epoch, numbers.Integral) or drw_start_epoch < 0):
            raise ValueError(f"drw_start_epoch={drw_start_epoch!r} must be a non-negative integer or None.")
        super().__init__(len(counts), reduction, ignore_index)
        self.s = float(s)
        self.max_m = float(max_m)
        self.drw_start_epoch = None if drw_start_epoch is None else int(drw_start_epoch)
        self.beta = float(beta)
        self.register_buffer("margins", ldam_margins(counts, max_m))
        self.register_buffer("drw_weights", class_weights(counts, scheme="effective", beta=beta))
        self.epoch = 0
        self._peak_logit = None   # largest |logit| seen, kept on the device (no sync per batch)
        self._warned = False

    @property
    def weight(self) -> torch.Tensor | None:
        """Class weights used at the current epoch: None before DRW starts, else ``drw_weights``."""
        if self.drw_start_epoch is not None and self.epoch >= self.drw_start_epoch:
            return self.drw_weights
        return None

    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the current 0-based epoch (``engine.fit`` calls this before each epoch)."""
        if not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch={epoch!r} must be a non-negative integer (0-based).")
        self.epoch = int(epoch)
        if self._peak_logit is not None:
            self._check_cosine_logits(float(self._peak_logit))  # one sync per epoch

    def _check_cosine_logits(self, largest: float) -> None:
        """Warn once when the logits are not cosines (float16 cosines may overshoot 1 a little)."""
        if largest > 1.0 + 1e-2 and not self._warned:
            self._warned = True
            warnings.warn(
                f"LDAMLoss expects cosine logits in [-1, 1] from a NormedLinear head, but got |logit| up to "
                f"{largest:.3g}; with s={self.s:g} the loss can explode and training can collapse to one "
                "class. Call losses.use_normed_head(model) before training, or lower s.",
                stacklevel=3,
            )

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, safe, keep = self._prepare(logits, targets)
        if logits.numel():
            peak = logits.detach().abs().amax()
            first_call = self._peak_logit is None
            self._peak_logit = peak if first_call else torch.maximum(self._peak_logit, peak)
            if first_call:
                self._check_cosine_logits(float(peak))
        margin = self.margins.to(device=logits.device, dtype=logits.dtype)[safe]
        adjusted = logits - F.one_hot(safe, self.num_classes).to(logits.dtype) * margin[:, None]
        return self._weighted_ce(self.s * adjusted, safe, keep, self.weight)

    def extra_repr(self) -> str:
        return (f"max_m={self.max_m}, s={self.s}, drw_start_epoch={self.drw_start_epoch}, beta={self.beta}, "
                + super().extra_repr())


def use_normed_head(model: nn.Module) -> nn.Module:
    """Replace the model's last ``nn.Linear`` with a :class:`NormedLinear` of the same size (in place).

    "Last" means last in ``model.named_modules()`` order, which for the course
    models is the classifier. The new layer is on the old one's device. Calling
    it again on a model whose last head is already a ``NormedLinear`` changes
    nothing. Returns ``model``.
    Taught in: 06_loss_comparison"""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    last_name, last = classifier_head(model)
    if isinstance(last, NormedLinear):
        return model
    head = NormedLinear(last.in_features, last.out_features).to(device=last.weight.device, dtype=last.weight.dtype)
    if last_name == "":
        raise ValueError("model is itself an nn.Linear; build NormedLinear(in_features, out_features) directly.")
    parent_name, _, child_name = last_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child_name, head)
    return model


# ---------------------------------------------------------------------------
# Balanced softmax / logit adjustment
# ---------------------------------------------------------------------------
class BalancedSoftmaxLoss(ClassLoss):
    """Balanced softmax / logit-adjusted loss (Ren et al. 2020; Menon et al. 2021).

    With class priors ``pi_c = n_c / n`` from the training set::

        loss = -log softmax(z + tau * log pi)_y

    The training data say "none" is 85 % likely before looking at the wafer;
    adding ``log pi`` inside the loss lets the prior explain that, so the raw
    logits ``z`` the model outputs (and that you predict with) learn the
    *balanced* posterior: every class is treated as equally likely a priori.
    ``tau = 1`` is Ren et al.'s (2020) balanced softmax, which is also Menon
    et al.'s (2021) logit-adjusted loss with their recommended ``tau = 1``;
    ``tau = 0`` is plain cross entropy.

    Parameters
    ----------
    class_counts : array-like ``(C,)`` of positive integers (training set)
    tau : float >= 0
    reduction : {"mean", "sum", "none"}
    ignore_index : int
    """

    def __init__(self, class_counts, *, tau: float = 1.0, reduction: str = "mean", ignore_index: int = -100):
        counts = check_class_counts(class_counts)
        if not isinstance(tau, numbers.Real) or not math.isfinite(tau) or tau < 0:
            raise ValueError(f"tau={tau!r} must be a finite number >= 0 (1 = balanced softmax, 0 = cross entropy).")
        super().__init__(len(counts), reduction, ignore_index)
        self.tau = float(tau)
        self.register_buffer("log_prior", torch.as_tensor(np.log(counts / counts.sum()), dtype=torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, safe, keep = self._prepare(logits, targets)
        adjusted = logits + self.tau * self.log_prior.to(device=logits.device, dtype=logits.dtype)
        return self._weighted_ce(adjusted, safe, keep, None)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, " + super().extra_repr()


# ---------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------
def make_loss(name: str, class_counts, *, num_classes: int | None = None, **kwargs) -> nn.Module:
    """Build a loss by name from the training set's class counts.

    Parameters
    ----------
    name : str
        One of :data:`LOSS_NAMES`:

        * ``"ce"`` -- :class:`CrossEntropyLoss` without weights;
        * ``"weighted_ce"`` -- :class:`CrossEntropyLoss` with
          :func:`class_weights` (``scheme="balanced"`` or
          ``"effective"``, ``beta``);
        * ``"focal"`` -- :class:`FocalLoss` (``gamma=2``; ``alpha`` may be a
          vector, None, or ``"balanced"``/``"effective"`` to compute it from the counts);
        * ``"ldam"`` -- :class:`LDAMLoss` without re-weighting;
        * ``"ldam_drw"`` -- :class:`LDAMLoss`; needs ``drw_start_epoch``
          (Cao et al.: 80 % of the epochs, e.g. ``int(0.8 * EPOCHS)``);
        * ``"balanced_softmax"`` -- :class:`BalancedSoftmaxLoss` (``tau=1``).
    class_counts : array-like ``(C,)``
        Training samples per class, e.g. ``train_ds.class_counts()``.
    num_classes : int or None
        If given, ``class_counts`` must have this many entries.
    **kwargs
        Passed to the loss class (e.g. ``gamma``, ``max_m``, ``s``, ``tau``, ``reduction``).

    Returns
    -------
    torch.nn.Module called as ``loss_fn(logits (N, C), targets (N,))``. Losses
    with ``needs_normed_head = True`` (LDAM) expect :func:`use_normed_head`.
    Taught in: 06_loss_comparison"""
    if not isinstance(name, str) or name.lower() not in LOSS_NAMES:
        raise ValueError(f"unknown loss name {name!r}; valid names: {', '.join(LOSS_NAMES)}.")
    name = name.lower()
    counts = check_class_counts(class_counts, num_classes=num_classes, allow_zero=(name == "ce"))
    C = len(counts)

    if name == "ce":
        builder, args = CrossEntropyLoss, {"num_classes": C}
    elif name == "weighted_ce":
        scheme, beta = kwargs.pop("scheme", "balanced"), kwargs.pop("beta", 0.9999)
        builder, args = CrossEntropyLoss, {"weight": class_weights(counts, scheme=scheme, beta=beta)}
    elif name == "focal":
        alpha = kwargs.pop("alpha", None)
        if isinstance(alpha, str):
            alpha = class_weights(counts, scheme=alpha, beta=kwargs.pop("beta", 0.9999))
        builder, args = FocalLoss, {"alpha": alpha, "num_classes": C}
    elif name == "ldam":
        builder, args = LDAMLoss, {"class_counts": counts}
    elif name == "ldam_drw":
        if kwargs.get("drw_start_epoch") is None:
            raise ValueError(
                "make_loss('ldam_drw', ...) needs drw_start_epoch, the 0-based epoch where re-weighting starts "
                "(Cao et al.: 80 % of training, e.g. drw_start_epoch=int(0.8 * EPOCHS)). "
                "Use 'ldam' for LDAM without re-weighting."
            )
        builder, args = LDAMLoss, {"class_counts": counts}
    else:
        builder, args = BalancedSoftmaxLoss, {"class_counts": counts}

    accepted = [p for p in inspect.signature(builder).parameters if p not in args]
    accepted += {"weighted_ce": ["scheme", "beta"], "focal": ["alpha", "beta"]}.get(name, [])
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"make_loss({name!r}) got unexpected keyword argument(s) {unknown}; "
            f"{builder.__name__} accepts {accepted}."
        )
    return builder(**args, **kwargs)
