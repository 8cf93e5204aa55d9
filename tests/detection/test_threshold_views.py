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
