"""Drawing detection data with matplotlib: boxes on images, pairs, box-size histograms.

Every function draws into a given ``ax`` (or a new figure) and returns the axes,
so notebooks can combine them. Colours are fixed per class (``CLASS_COLORS``),
so the same class looks the same in every figure.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from course_utils.detection.formats import box_table
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["draw_boxes", "plot_pair", "plot_box_sizes"]

#: One colour per class id 1..6 (matplotlib's tab10 colours).
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def draw_boxes(image, boxes, labels, scores=None, class_names: Sequence[str] = PCB_CLASSES, ax=None,
               color=None, title: str | None = None, linewidth: float = 1.5, show_text: bool = True,
               linestyle: str = "-"):
    """Show a grayscale ``image`` (``(H, W)``) with its boxes.

    ``boxes`` ``(k, 4)`` ``x1 y1 x2 y2`` pixels, ``labels`` ``(k,)`` class ids 1..;
    ``scores`` ``(k,)`` (optional) are printed after the class name. ``color`` is one
    colour for every box (default: the class colours); ``linestyle`` e.g. ``"--"``.
    ``image=None`` draws the boxes only, onto ``ax`` (another set of boxes over a
    picture drawn before, as ``widgets.threshold_view`` does). Returns the axes.

    Taught in: 13_pcb_detection_data
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"labels has {len(labels)} entries for {len(boxes)} boxes.")
    if scores is not None and len(scores) != len(boxes):
        raise ValueError(f"scores has {len(scores)} entries for {len(boxes)} boxes.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    if image is not None:
        ax.imshow(np.asarray(image), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    for k, ((x1, y1, x2, y2), c) in enumerate(zip(boxes, labels)):
        col = color or CLASS_COLORS[(int(c) - 1) % len(CLASS_COLORS)]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=col, linewidth=linewidth,
                               linestyle=linestyle))
        if show_text:
            name = class_names[int(c) - 1] if 1 <= c <= len(class_names) else str(int(c))
            text = name if scores is None else f"{name} {float(scores[k]):.2f}"
            ax.text(x1, y1 - 2, text, color="white", fontsize=7, va="bottom",
                    bbox={"facecolor": col, "edgecolor": "none", "pad": 1, "alpha": 0.85})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def plot_pair(dataset, index: int, axes=None, show_diff: bool = True):
    """Test image with its boxes, the template and (``show_diff``) their difference, side by side.
    Returns the axes array.

    Taught in: 13_pcb_detection_data"""
    import matplotlib.pyplot as plt

    if not 0 <= index < len(dataset):
        raise IndexError(f"index={index} is outside the data set of {len(dataset)} images.")
    panels = 1 + (dataset.templates is not None) * (1 + bool(show_diff))
    if axes is None:
        _, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2))
    axes = np.atleast_1d(axes)
    name = dataset.image_ids[index]
    draw_boxes(dataset.images[index], dataset.boxes[index], dataset.labels[index], class_names=dataset.class_names,
               ax=axes[0], title=f"{name} test ({len(dataset.boxes[index])} boxes)")
    if dataset.templates is not None:
        axes[1].imshow(dataset.templates[index], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[1].set_title("template")
        if show_diff:
            diff = np.abs(dataset.images[index].astype(np.int16) - dataset.templates[index]).astype(np.uint8)
            axes[2].imshow(255 - diff, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axes[2].set_title("|test - template|")
        for ax in axes[1:]:
            ax.set_xticks([])
            ax.set_yticks([])
    return axes


def plot_box_sizes(dataset, ax=None, bins=None, by: str = "class"):
    """Histogram of box sizes (``sqrt(width * height)`` in pixels), one step curve per class
    (``by="class"``) or one for all boxes (``by="all"``). Returns the axes.

    Taught in: 13_pcb_detection_data"""
    import matplotlib.pyplot as plt

    if by not in ("class", "all"):
        raise ValueError(f"by={by!r} must be 'class' or 'all'.")
    table = box_table(dataset)
    size = np.sqrt(table["area"].to_numpy())
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.arange(0, max(size.max(initial=0) + 8, 16), 4) if bins is None else bins
    if by == "all":
        ax.hist(size, bins=bins, color="0.4")
    else:
        for k, name in enumerate(dataset.class_names):
            part = size[table["label"].to_numpy() == k + 1]
            ax.hist(part, bins=bins, histtype="step", linewidth=1.5, label=f"{name} ({len(part)})",
                    color=CLASS_COLORS[k % len(CLASS_COLORS)])
        ax.legend(fontsize=8)
    ax.set_xlabel("box size sqrt(w*h) [px]")
    ax.set_ylabel("boxes")
    return ax
