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
