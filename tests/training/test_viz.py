import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from course_utils.training import plots
from course_utils.classification import wafer_plots
from course_utils.classification.wafers import CLASS_NAMES


def test_plot_wafer_accepts_states_and_encodings():
    m = np.random.default_rng(0).integers(0, 3, (16, 16))
    ax = wafer_plots.plot_wafer(m, title="x")
    assert ax.get_title() == "x"
    img = ax.get_images()[0].get_array()
    assert np.array_equal(np.asarray(img), m)
    onehot = torch.nn.functional.one_hot(torch.as_tensor(m), 3).permute(2, 0, 1).float()
    assert np.array_equal(np.asarray(wafer_plots.plot_wafer(onehot).get_images()[0].get_array()), m)
    single = torch.as_tensor(m).float().unsqueeze(0) / 2
    assert np.array_equal(np.asarray(wafer_plots.plot_wafer(single).get_images()[0].get_array()), m)
    with pytest.raises(ValueError, match="must be 2-D"):
        wafer_plots.plot_wafer(np.zeros(5))
    plt.close("all")


def test_gallery_and_distribution():
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 3, (30, 8, 8)).astype(np.uint8)
    labels = rng.integers(0, 9, 30)
    fig = wafer_plots.wafer_gallery(maps, labels, per_class=3)
    assert len(fig.axes) == 9 * 3
    ax = wafer_plots.plot_class_distribution(np.bincount(labels, minlength=9))
    assert len(ax.patches) == 9 and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="one entry per class"):
        wafer_plots.plot_class_distribution([1, 2, 3])
    with pytest.raises(ValueError, match="maps has 30 entries but labels has 2"):
        wafer_plots.wafer_gallery(maps, labels[:2])
    plt.close("all")


def _curves(fig):
    """(label, x, y, fmt) of every line, per panel, as the figure shows them."""
    return [[(line.get_label(), list(line.get_xdata()), list(line.get_ydata()),
              f"{line.get_marker()}{line.get_linestyle()}") for line in ax.lines] for ax in fig.axes]


def test_one_learning_curve_drawing_for_classification_and_yolo():
    from course_utils.detection import yolo

    fig = plots.plot_learning_curves([1, 2], [("a", [2.0, 1.0], "o-")], [("b", [0.5, 0.6], "s--", "C3")], title="t")
    assert _curves(fig) == [[("a", [1, 2], [2.0, 1.0], "o-")], [("b", [1, 2], [0.5, 0.6], "s--")]]
    assert fig.axes[1].lines[0].get_color() == "C3" and fig.axes[1].get_ylim() == (0, 1.02)
    assert fig.axes[0].get_ylabel() == "loss" and fig._suptitle.get_text() == "t"
    # plot_history and plot_yolo_history: their columns, through the same two panels
    hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                         "train_acc": [0.5, 0.7], "val_acc": [0.4, 0.6]})
    assert _curves(plots.plot_history(hist)) == [
        [("train", [1, 2], [1.0, 0.5], "o-"), ("validation", [1, 2], [1.1, 0.7], "o-")],
        [("train accuracy", [1, 2], [0.5, 0.7], "o-"), ("val accuracy", [1, 2], [0.4, 0.6], "o-")]]
    runs = pd.DataFrame({"epoch": [1, 2], "train/box_loss": [3.0, 2.0], "val/box_loss": [2.5, 2.0],
                         "precision": [0.1, 0.3], "recall": [0.2, 0.4], "mAP50": [0.05, 0.25], "mAP50-95": [0.02, 0.1]})
    fig = yolo.plot_yolo_history(runs)
    assert _curves(fig) == [
        [("train box", [1, 2], [3.0, 2.0], "o-"), ("val box", [1, 2], [2.5, 2.0], "s--")],
        [(c, [1, 2], runs[c].tolist(), "o-") for c in ("precision", "recall", "mAP50", "mAP50-95")]]
    assert fig.axes[1].get_ylim() == (0, 1.02) and fig.axes[0].get_legend().get_texts()[0].get_fontsize() == 7
    plt.close("all")


def test_history_and_confusion_matrix():
    hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                         "train_acc": [0.5, 0.7], "val_acc": [0.4, 0.6], "val_macro_f1": [0.3, 0.5]})
    fig = plots.plot_history(hist)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 3
    with pytest.raises(ValueError, match="missing the columns"):
        plots.plot_history(hist.drop(columns="val_loss"))
    cm = pd.DataFrame(np.eye(9), index=CLASS_NAMES, columns=CLASS_NAMES)
    ax = plots.plot_confusion_matrix(cm, title="cm")
    assert ax.get_xlabel() == "predicted" and ax.get_title() == "cm"
    with pytest.raises(TypeError, match="cm must be a DataFrame"):
        plots.plot_confusion_matrix(np.eye(3))
    plt.close("all")
