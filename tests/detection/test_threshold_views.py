"""Two threshold views of one image differ only if a box scores between the thresholds (issue 24, item 8)."""
import numpy as np
import pytest

from course_utils.detection import widgets


def _pred(*scores):
    n = len(scores)
    return {"boxes": np.tile(np.array([[0, 0, 10, 10]], np.float32), (n, 1)), "labels": np.ones(n, np.int64),
            "scores": np.asarray(scores, np.float32)}


def test_picks_the_image_with_most_boxes_between_the_thresholds():
    preds = [_pred(0.9, 0.95), _pred(0.3, 0.9), _pred(0.25, 0.5, 0.65, 0.1)]
    assert widgets.contrasting_thresholds(preds, low=0.2, high=0.7) == (2, 0.2, 0.7)


def test_falls_back_to_score_quartiles_when_no_box_is_between():
    preds = [_pred(0.05, 0.1), _pred(0.8, 0.9, 0.95)]  # nothing in [0.2, 0.7): both views would be identical
    index, low, high = widgets.contrasting_thresholds(preds, low=0.2, high=0.7)
    scores = np.asarray(preds[index]["scores"])
    assert low < high and ((scores >= low) & (scores < high)).sum() >= 1
    assert (low, high) == pytest.approx(tuple(np.quantile([0.05, 0.1, 0.8, 0.9, 0.95], [0.25, 0.75])))


@pytest.mark.parametrize("preds", [[], [_pred()], [_pred(0.9), _pred(0.9, 0.9)]])
def test_no_contrast_is_a_clear_error(preds):
    with pytest.raises(ValueError, match="same picture"):
        widgets.contrasting_thresholds(preds)


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="low .* must be below high"):
        widgets.contrasting_thresholds([_pred(0.5)], low=0.7, high=0.2)


def test_the_two_views_really_differ():
    import matplotlib
    matplotlib.use("Agg")
    image = np.zeros((32, 32), np.uint8)
    target = {"boxes": np.array([[0, 0, 10, 10]], np.float32), "labels": np.array([1])}
    preds = [_pred(0.5)]
    index, low, high = widgets.contrasting_thresholds(preds)
    views = [widgets.threshold_view(image, preds[index], target, score_threshold=t) for t in (low, high)]
    assert (len(views[0]["tp"]), len(views[1]["tp"])) == (1, 0)


def test_threshold_view_draws_with_draw_boxes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from course_utils.detection import draw
    from course_utils.detection.pcb import PCB_CLASSES

    image = np.zeros((64, 64), np.uint8)
    target = {"boxes": np.array([[0, 0, 10, 10], [40, 40, 60, 50]], np.float32), "labels": np.array([1, 3])}
    pred = {"boxes": np.array([[1, 0, 10, 10], [20, 20, 30, 30]], np.float32), "labels": np.array([1, 2]),
            "scores": np.array([0.9, 0.6], np.float32)}
    out = widgets.threshold_view(image, pred, target, score_threshold=0.5, iou_threshold=0.5)
    # by hand: prediction 0 finds target 0 (IoU 0.9), prediction 1 is a false alarm, target 1 is missed
    assert (out["tp"].tolist(), out["fp"].tolist(), out["fn"].tolist()) == ([0], [1], [1])
    ax = out["ax"]
    rects = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches]
    assert rects == [(1, 0, 9, 10), (20, 20, 10, 10), (40, 40, 20, 10)]
    assert [p.get_edgecolor() for p in ax.patches] == [to_rgba(widgets.COLOURS[k]) for k in ("TP", "FP", "FN")]
    assert [p.get_linestyle() for p in ax.patches] == ["-", "-", "--"]
    assert [t.get_text() for t in ax.texts] == [f"{PCB_CLASSES[0]} 0.90", f"{PCB_CLASSES[1]} 0.60", PCB_CLASSES[2]]
    assert len(ax.images) == 1                                     # the picture once, under all three groups
    # the same patches and texts as draw.draw_boxes draws for each group
    _, ref = plt.subplots()
    draw.draw_boxes(image, pred["boxes"][:1], [1], [0.9], ax=ref, color=widgets.COLOURS["TP"], linewidth=1.6)
    draw.draw_boxes(None, pred["boxes"][1:], [2], [0.6], ax=ref, color=widgets.COLOURS["FP"], linewidth=1.6)
    draw.draw_boxes(None, target["boxes"][1:], [3], ax=ref, color=widgets.COLOURS["FN"], linewidth=1.6,
                    linestyle="--")
    def drawn(axes):
        return ([(p.get_xy(), p.get_width(), p.get_height(), p.get_edgecolor(), p.get_linestyle(), p.get_linewidth())
                 for p in axes.patches],
                [(t.get_text(), t.get_position(), t.get_bbox_patch().get_facecolor()) for t in axes.texts])

    assert drawn(ax) == drawn(ref)
    assert len(ref.images) == 1
    plt.close("all")
