"""Losses for imbalanced data: formulas against independent computations, and clear errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from course_utils.training import losses, models


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 4, generator=gen)
    targets = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 3, 3, 2, 0])
    return logits, targets


COUNTS = [1, 16, 81, 256]


# --- cross entropy and class weights --------------------------------------------------------
def test_ce_and_weighted_ce_match_torch(batch):
    logits, targets = batch
    assert torch.allclose(losses.make_loss("ce", COUNTS)(logits, targets), F.cross_entropy(logits, targets))
    loss_fn = losses.make_loss("weighted_ce", COUNTS)
    expected = F.cross_entropy(logits, targets, weight=loss_fn.weight)
    assert torch.allclose(loss_fn(logits, targets), expected)


def test_ignore_index_and_reductions_match_torch(batch):
    logits, targets = batch
    targets = targets.clone()
    targets[[1, 5]] = -100
    w = torch.tensor([1.0, 2.0, 0.5, 3.0])
    for reduction in ("mean", "sum", "none"):
        ours = losses.CrossEntropyLoss(w, reduction=reduction)(logits, targets)
        ref = F.cross_entropy(logits, targets, weight=w, reduction=reduction)
        assert ours.shape == ref.shape
        assert torch.allclose(ours, ref, atol=1e-6)


def test_balanced_weights_match_scikit_learn():
    counts = np.array([3, 10, 1, 50])
    labels = np.repeat(np.arange(4), counts)
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    got = losses.class_weights(counts, scheme="balanced")
    assert got.dtype == torch.float32 and got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_effective_number_weights_by_hand():
    # E_c = (1 - beta^n_c) / (1 - beta): beta=0.5, n=(1, 2) -> E = (1, 1.5); 1/E = (1, 2/3); sum to C=2
    got = losses.class_weights([1, 2], scheme="effective", beta=0.5)
    np.testing.assert_allclose(got.numpy(), [2 * 1 / (5 / 3), 2 * (2 / 3) / (5 / 3)], rtol=1e-6)
    # beta = 0 -> equal weights
    np.testing.assert_allclose(losses.class_weights([5, 500], scheme="effective", beta=0.0), [1, 1])


# --- focal loss -----------------------------------------------------------------------------
def test_focal_gamma_zero_is_cross_entropy(batch):
    logits, targets = batch
    assert torch.allclose(losses.FocalLoss(gamma=0.0)(logits, targets), F.cross_entropy(logits, targets))
    alpha = torch.tensor([0.25, 1.0, 2.0, 0.5])
    assert torch.allclose(losses.FocalLoss(gamma=0.0, alpha=alpha)(logits, targets),
                          F.cross_entropy(logits, targets, weight=alpha))


def test_focal_value_by_hand(batch):
    logits, targets = batch
    alpha = np.array([0.25, 1.0, 2.0, 0.5])
    z = logits.double().numpy()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p_y = p[np.arange(len(z)), targets.numpy()]
    a_y = alpha[targets.numpy()]
    per_sample = -a_y * (1 - p_y) ** 2 * np.log(p_y)
    loss_fn = losses.FocalLoss(gamma=2.0, alpha=alpha, reduction="none")
    np.testing.assert_allclose(loss_fn(logits, targets).numpy(), per_sample, rtol=1e-5)
    mean = losses.FocalLoss(gamma=2.0, alpha=alpha)(logits, targets).item()
    assert math.isclose(mean, per_sample.sum() / a_y.sum(), rel_tol=1e-5)


def test_focal_down_weights_easy_samples():
    logits = torch.tensor([[8.0, 0.0], [0.0, 0.0]])  # confident right / undecided
    targets = torch.tensor([0, 0])
    ce = losses.FocalLoss(gamma=0.0, reduction="none")(logits, targets)
    fl = losses.FocalLoss(gamma=2.0, reduction="none")(logits, targets)
    assert (fl[0] / ce[0]) < 1e-6 and math.isclose((fl[1] / ce[1]).item(), 0.25, rel_tol=1e-6)


def test_focal_alpha_string_from_counts():
    loss_fn = losses.make_loss("focal", COUNTS, alpha="balanced", gamma=1.0)
    assert torch.allclose(loss_fn.alpha, losses.class_weights(COUNTS))
    assert loss_fn.gamma == 1.0


# --- LDAM and DRW -----------------------------------------------------------------------------
def test_ldam_margins_by_hand():
    # n^(-1/4) for 1, 16, 81, 256 is 1, 1/2, 1/3, 1/4; scaled so the largest is max_m
    np.testing.assert_allclose(losses.ldam_margins(COUNTS, max_m=0.5).numpy(), [0.5, 0.25, 0.5 / 3, 0.125],
                               rtol=1e-6)
    np.testing.assert_allclose(losses.ldam_margins([256, 1], max_m=1.0).numpy(), [0.25, 1.0], rtol=1e-6)


def test_ldam_zero_margin_unit_scale_is_cross_entropy(batch):
    logits, targets = batch
    cosine = torch.tanh(logits)  # in [-1, 1] like a NormedLinear head
    loss_fn = losses.LDAMLoss(COUNTS, max_m=0.0, s=1.0)
    assert torch.allclose(loss_fn(cosine, targets), F.cross_entropy(cosine, targets))


def test_ldam_value_and_drw_schedule(batch):
    logits, targets = batch
    cosine = torch.tanh(logits)
    counts = [10, 100, 1000, 10000]
    loss_fn = losses.make_loss("ldam_drw", counts, max_m=0.4, s=10.0, drw_start_epoch=2, beta=0.99)
    margins = 0.4 * np.array(counts, float) ** -0.25 / 10 ** -0.25
    adjusted = cosine.clone()
    adjusted[torch.arange(len(targets)), targets] -= torch.as_tensor(margins, dtype=torch.float32)[targets]
    effective = (1 - 0.99 ** np.array(counts, float)) / (1 - 0.99)
    drw = (1 / effective) * 4 / (1 / effective).sum()
    np.testing.assert_allclose(loss_fn.drw_weights.numpy(), drw, rtol=1e-6)

    for epoch, weighted in [(0, False), (1, False), (2, True), (5, True)]:
        loss_fn.set_epoch(epoch)
        weight = torch.as_tensor(drw, dtype=torch.float32) if weighted else None
        assert (loss_fn.weight is not None) == weighted
        expected = F.cross_entropy(10.0 * adjusted, targets, weight=weight)
        assert torch.allclose(loss_fn(cosine, targets), expected, atol=1e-6)


def test_plain_ldam_never_reweights():
    loss_fn = losses.make_loss("ldam", COUNTS)
    loss_fn.set_epoch(1000)
    assert loss_fn.weight is None and loss_fn.needs_normed_head


def test_ldam_warns_without_normed_head(batch):
    logits, targets = batch
    with pytest.warns(UserWarning, match="use_normed_head"):
        losses.LDAMLoss(COUNTS)(logits * 5, targets)
    # small logits at first (a fresh nn.Linear), large later: the epoch boundary catches it
    loss_fn = losses.LDAMLoss(COUNTS)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss_fn(torch.tanh(logits), targets)
        loss_fn(logits * 5, targets)
        with pytest.raises(UserWarning, match=r"\|logit\| up to"):
            loss_fn.set_epoch(1)


def test_use_normed_head_replaces_last_linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Sequential(nn.Dropout(0.1), nn.Linear(6, 3)))
    first = model[1]
    assert losses.use_normed_head(model) is model
    head = model[3][1]
    assert isinstance(head, models.NormedLinear) and (head.in_features, head.out_features) == (6, 3)
    assert model[1] is first  # earlier layers untouched
    out = model(torch.randn(5, 2, 4))
    assert out.shape == (5, 3) and out.abs().max() <= 1 + 1e-6
    # cosine: each row of the head computes <x/|x|, w/|w|>
    feats = model[:3](torch.ones(1, 2, 4))
    expected = F.normalize(feats) @ F.normalize(head.weight).T
    assert torch.allclose(model[3](feats), expected, atol=1e-6)
    losses.use_normed_head(model)  # idempotent: the feature layer stays an nn.Linear
    assert type(model[1]) is nn.Linear
    with pytest.raises(ValueError, match="no nn.Linear"):
        losses.use_normed_head(nn.Sequential(nn.Conv2d(1, 1, 3)))


# --- balanced softmax -------------------------------------------------------------------------
def test_balanced_softmax_adds_log_prior(batch):
    logits, targets = batch
    counts = np.array([5, 20, 50, 925])
    prior = torch.as_tensor(np.log(counts / counts.sum()), dtype=torch.float32)
    got = losses.make_loss("balanced_softmax", counts)(logits, targets)
    assert torch.allclose(got, F.cross_entropy(logits + prior, targets), atol=1e-6)
    # equal counts: the prior is a constant shift, i.e. plain cross entropy
    flat = losses.BalancedSoftmaxLoss([7, 7, 7, 7])(logits, targets)
    assert torch.allclose(flat, F.cross_entropy(logits, targets), atol=1e-6)
    assert torch.allclose(losses.BalancedSoftmaxLoss(counts, tau=0.0)(logits, targets), F.cross_entropy(logits, targets))


def test_every_loss_trains_a_tiny_model():
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = (x[:, 0] > 0.8).long() + (x[:, 1] > 1.2).long()  # 3 imbalanced classes
    counts = np.bincount(y.numpy(), minlength=3)
    for name in losses.LOSS_NAMES:
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
        loss_fn = losses.make_loss(name, counts, drw_start_epoch=1) if name == "ldam_drw" else \
            losses.make_loss(name, counts)
        if loss_fn.needs_normed_head:
            losses.use_normed_head(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        first = None
        for epoch in range(20):
            if hasattr(loss_fn, "set_epoch"):
                loss_fn.set_epoch(min(epoch, 0))  # keep the weights fixed so losses are comparable
            loss = loss_fn(model(x), y)
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert math.isfinite(loss.item()) and loss.item() < first, name


# --- bad input ----------------------------------------------------------------------------------
def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid names: ce, weighted_ce, focal, ldam, ldam_drw, balanced_softmax"):
        losses.make_loss("dice", COUNTS)


@pytest.mark.parametrize("name", ["weighted_ce", "focal", "ldam", "balanced_softmax"])
def test_zero_counts_rejected(name):
    with pytest.raises(ValueError, match=r"zeros for class indices \[1\]"):
        losses.make_loss(name, [5, 0, 3], alpha="balanced") if name == "focal" else losses.make_loss(name, [5, 0, 3])


def test_count_checks():
    with pytest.raises(ValueError, match="3 entries but num_classes=9"):
        losses.make_loss("ce", [1, 2, 3], num_classes=9)
    with pytest.raises(ValueError, match="non-negative whole numbers"):
        losses.make_loss("ce", [1, -2, 3])
    with pytest.raises(ValueError, match="1-D sequence"):
        losses.make_loss("ce", [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"make_loss\('ldam_drw', \.\.\.\) needs drw_start_epoch, the 0-based epoch "
                                         r"where re-weighting starts \(Cao et al\.: 80 % of training, e\.g\. "
                                         r"drw_start_epoch=int\(0\.8 \* EPOCHS\)\)\. Use 'ldam' for LDAM without "
                                         r"re-weighting\."):
        losses.make_loss("ldam_drw", COUNTS)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['gama'\]"):
        losses.make_loss("focal", COUNTS, gama=2)


def test_parameter_checks():
    with pytest.raises(ValueError, match="gamma=-0.5 must be"):
        losses.FocalLoss(gamma=-0.5)
    with pytest.raises(ValueError, match="max_m=-0.1 must be"):
        losses.make_loss("ldam", COUNTS, max_m=-0.1)
    with pytest.raises(ValueError, match="s=0 must be"):
        losses.LDAMLoss(COUNTS, s=0)
    with pytest.raises(ValueError, match="tau=-1 must be"):
        losses.BalancedSoftmaxLoss(COUNTS, tau=-1)
    with pytest.raises(ValueError, match="beta=1.0 must be"):
        losses.class_weights(COUNTS, scheme="effective", beta=1.0)
    with pytest.raises(ValueError, match="reduction='avg'"):
        losses.FocalLoss(reduction="avg")
    with pytest.raises(ValueError, match="epoch=-1"):
        losses.LDAMLoss(COUNTS).set_epoch(-1)
    with pytest.raises(ValueError, match="alpha has 3 entries but the loss has 4"):
        losses.FocalLoss(alpha=[1, 1, 1], num_classes=4)


def test_shape_and_class_mismatch_errors(batch):
    logits, targets = batch
    loss_fn = losses.make_loss("focal", COUNTS)
    with pytest.raises(ValueError, match=r"logits have 4 columns but the loss was built for 9 classes"):
        losses.make_loss("ldam", [1] * 9)(logits, targets)
    with pytest.raises(ValueError, match=r"targets must have shape \(N,\) = \(12,\)"):
        loss_fn(logits, targets[:5])
    with pytest.raises(ValueError, match="one-hot"):
        loss_fn(logits, F.one_hot(targets, 4))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\)"):
        loss_fn(logits[:, :, None], targets)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\]"):
        loss_fn(logits, torch.full_like(targets, 7))
    with pytest.raises(TypeError, match="integer class indices"):
        loss_fn(logits, targets.float())
    with pytest.raises(TypeError, match="torch tensors"):
        loss_fn(logits.numpy(), targets)


def test_one_head_finder_knows_normed_heads():
    """fit's class-count check reads the layer use_normed_head replaced (MobileNetV3 has two Linear layers)."""
    from torchvision.models import mobilenet_v3_small

    from course_utils.training import engine

    model = mobilenet_v3_small(num_classes=9)
    assert engine._num_outputs(model) == 9
    losses.use_normed_head(model)
    name, head = models.classifier_head(model)
    assert name == "classifier.3" and isinstance(head, models.NormedLinear)
    assert engine._num_outputs(model) == 9  # the old finder skipped the NormedLinear and read 1024
    with pytest.raises(ValueError, match="no nn.Linear"):
        models.classifier_head(torch.nn.Conv2d(3, 3, 1))


def test_losses_print_their_settings():
    assert "gamma=1.5, num_classes=None, reduction='mean'" in repr(losses.FocalLoss(gamma=1.5))
    ldam = repr(losses.LDAMLoss([10, 5, 1], max_m=0.4, s=20.0, drw_start_epoch=3, beta=0.99))
    assert "max_m=0.4, s=20.0, drw_start_epoch=3, beta=0.99, num_classes=3" in ldam
    assert "tau=0.5, num_classes=3, reduction='sum'" in repr(losses.BalancedSoftmaxLoss([4, 2, 1], tau=0.5,
                                                                                          reduction="sum"))


# --- behaviour pinned by mutation testing (README, Tests) ---------------------------------------
def test_check_class_counts_directly():
    # zeros are refused unless allowed; the result is int64 whatever came in
    with pytest.raises(ValueError, match=r"zeros for class indices \[1\] \(counts \[4, 0\]\)\. This loss divides "
                                         r"by the counts, so every class needs at least one training sample: "
                                         r"check the split, or drop the empty classes\."):
        losses.check_class_counts([4, 0])
    assert losses.check_class_counts([4, 0], allow_zero=True).tolist() == [4, 0]
    got = losses.check_class_counts([3.0, 4.0])
    assert got.dtype == np.int64 and got.tolist() == [3, 4]
    # a tensor, also one that requires grad (numpy() of such a tensor would fail without detach)
    assert losses.check_class_counts(torch.tensor([3.0, 4.0], requires_grad=True)).tolist() == [3, 4]
    assert losses.check_class_counts(torch.tensor([5, 6])).tolist() == [5, 6]
    for bad in ([1.5, 2], ["a", "b"]):
        with pytest.raises(ValueError, match="non-negative whole numbers"):
            losses.check_class_counts(bad)
    with pytest.raises(ValueError, match="3 entries but num_classes=2; pass one count per class, in label order."):
        losses.check_class_counts([1, 2, 3], num_classes=2)


def test_ce_tolerates_empty_classes_other_losses_do_not(batch):
    logits, targets = batch
    keep = targets != 1  # class 1 has no training samples
    loss = losses.make_loss("ce", [5, 0, 3, 2])(logits[keep], targets[keep])
    assert torch.allclose(loss, F.cross_entropy(logits[keep], targets[keep]))


def test_inverse_and_default_beta_weights():
    # inverse: w_c = 1 / n_c
    np.testing.assert_allclose(losses.class_weights([2, 4, 8], scheme="inverse").numpy(), [0.5, 0.25, 0.125])
    # effective with the default beta 0.9999: E = (1 - 0.9999^n) / 0.0001; w = (1/E) * C / sum(1/E)
    e = (1 - 0.9999 ** np.array([10.0, 1000.0])) / 1e-4
    expected = (1 / e) * 2 / (1 / e).sum()
    np.testing.assert_allclose(losses.class_weights([10, 1000], scheme="effective").numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"scheme='sqrt' is not one of \('balanced', 'effective', 'inverse'\)"):
        losses.class_weights([1, 2], scheme="sqrt")


def test_weighted_ce_and_focal_pass_scheme_and_beta():
    counts = [10, 1000]
    e = (1 - 0.9 ** np.array(counts, float)) / 0.1  # beta = 0.9
    w09 = (1 / e) * 2 / (1 / e).sum()
    e = (1 - 0.9999 ** np.array(counts, float)) / 1e-4  # default beta
    w_default = (1 / e) * 2 / (1 / e).sum()
    for name, key in (("weighted_ce", "scheme"), ("focal", "alpha")):
        attr = "weight" if name == "weighted_ce" else "alpha"
        got = getattr(losses.make_loss(name, counts, **{key: "effective", "beta": 0.9}), attr)
        np.testing.assert_allclose(got.numpy(), w09, rtol=1e-6)
        got = getattr(losses.make_loss(name, counts, **{key: "effective"}), attr)
        np.testing.assert_allclose(got.numpy(), w_default, rtol=1e-6)
    # the error lists the keywords each loss accepts, the counted-from-counts ones included
    with pytest.raises(TypeError, match=r"CrossEntropyLoss accepts \['num_classes', 'reduction', 'ignore_index', "
                                        r"'scheme', 'beta'\]"):
        losses.make_loss("weighted_ce", counts, gama=1)
    with pytest.raises(TypeError, match=r"FocalLoss accepts \['gamma', 'reduction', 'ignore_index', 'alpha', 'beta'\]"):
        losses.make_loss("focal", counts, gama=1)


def test_class_number_taken_from_the_weights(batch):
    logits, targets = batch
    assert torch.allclose(losses.CrossEntropyLoss()(logits, targets), F.cross_entropy(logits, targets))
    assert torch.allclose(losses.FocalLoss(gamma=0.0)(logits, targets), F.cross_entropy(logits, targets))
    for loss_fn in (losses.CrossEntropyLoss([1.0, 1.0, 1.0]), losses.FocalLoss(alpha=[1.0, 1.0, 1.0]),
                    losses.make_loss("ce", [1, 1, 1]), losses.make_loss("focal", [1, 1, 1])):
        with pytest.raises(ValueError, match="logits have 4 columns but the loss was built for 3 classes"):
            loss_fn(logits, targets)
    with pytest.raises(ValueError, match="weight has 3 entries but the loss has 4 classes"):
        losses.CrossEntropyLoss([1.0, 1.0, 1.0], num_classes=4)


def test_focal_ignore_index_and_no_warnings(batch):
    logits, targets = batch
    targets = targets.clone()
    targets[[0, 7]] = -100
    alpha = torch.tensor([0.25, 1.0, 2.0, 0.5])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no implicit-softmax-dimension warning
        got = losses.FocalLoss(gamma=0.0, alpha=alpha)(logits, targets)
    assert torch.allclose(got, F.cross_entropy(logits, targets, weight=alpha))


def test_defaults_and_finite_parameters(batch):
    logits, targets = batch
    assert losses.FocalLoss().gamma == 2.0
    # ldam_margins default max_m = 0.5; float32
    m = losses.ldam_margins(COUNTS)
    assert m.dtype == torch.float32
    np.testing.assert_allclose(m.numpy(), [0.5, 0.25, 0.5 / 3, 0.125], rtol=1e-6)
    # LDAM defaults: max_m = 0.5, s = 30 -> loss = CE(30 * (cos - m_y on the true class))
    cosine = torch.tanh(logits)
    adjusted = cosine.clone()
    adjusted[torch.arange(12), targets] -= torch.tensor([0.5, 0.25, 0.5 / 3, 0.125])[targets]
    assert torch.allclose(losses.LDAMLoss(COUNTS)(cosine, targets), F.cross_entropy(30 * adjusted, targets),
                          atol=1e-5)
    inf = float("inf")
    for build, arg in ((lambda: losses.FocalLoss(gamma=inf), "gamma"), (lambda: losses.ldam_margins(COUNTS, inf), "max_m"),
                       (lambda: losses.LDAMLoss(COUNTS, s=inf), "s"),
                       (lambda: losses.BalancedSoftmaxLoss(COUNTS, tau=inf), "tau")):
        with pytest.raises(ValueError, match=f"{arg}=inf must be a finite number"):
            build()


def test_drw_start_epoch_bounds():
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match=f"drw_start_epoch={bad} must be a non-negative integer or None."):
            losses.LDAMLoss(COUNTS, drw_start_epoch=bad)
    at_zero = losses.LDAMLoss(COUNTS, drw_start_epoch=0)  # re-weights from the start, before any set_epoch
    assert at_zero.epoch == 0 and at_zero.weight is not None
    assert losses.LDAMLoss(COUNTS, drw_start_epoch=1).weight is None


def test_ldam_warning_threshold_once_and_running_peak():
    import warnings

    targets = torch.tensor([0, 1])
    exact = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)  # exact cosines: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.LDAMLoss([3, 1])(exact, targets)
        losses.LDAMLoss([3, 1])(exact * 1.01, targets)  # 1 + 1e-2 is still tolerated (float16 overshoot)
    with pytest.warns(UserWarning, match=r"up to 1\.5; with s=30 the loss can explode and training can collapse to "
                                         r"one class\. Call losses\.use_normed_head\(model\) before training, or "
                                         r"lower s\.") as record:
        loss_fn = losses.LDAMLoss([3, 1])
        loss_fn(exact * 1.5, targets)
        loss_fn(exact * 1.5, targets)
        loss_fn.set_epoch(1)
    assert len(record) == 1  # warned once
    # the peak is the largest |logit| over the epoch, not the last batch's
    loss_fn = losses.LDAMLoss([3, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss_fn(exact, targets)
        loss_fn(exact * 3, targets)
        loss_fn(exact, targets)
        with pytest.raises(UserWarning, match=r"\|logit\| up to 3"):
            loss_fn.set_epoch(1)


def test_ldam_batch_without_the_last_class():
    cosine = torch.tensor([[0.2, -0.1, 0.3], [0.5, 0.1, -0.4]])
    targets = torch.tensor([0, 1])  # class 2 absent: the one-hot still needs 3 columns
    loss = losses.LDAMLoss([1, 16, 81], max_m=0.5, s=2.0)(cosine, targets)
    # margins 0.5, 0.25 (and 1/6); sample 0 loses 0.5 on column 0, sample 1 loses 0.25 on column 1
    adjusted = torch.tensor([[0.2 - 0.5, -0.1, 0.3], [0.5, 0.1 - 0.25, -0.4]])
    assert torch.allclose(loss, F.cross_entropy(2.0 * adjusted, targets), atol=1e-6)


def test_use_normed_head_edge_cases():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got int."):
        losses.use_normed_head(3)
    with pytest.raises(ValueError, match=r"model is itself an nn\.Linear; build NormedLinear\(in_features, "
                                         r"out_features\) directly\."):
        losses.use_normed_head(nn.Linear(3, 2))
    # three levels deep and in float64: the head is replaced where it sits, in the same dtype
    model = nn.Sequential(nn.Sequential(nn.Sequential(nn.Linear(4, 3)))).double()
    losses.use_normed_head(model)
    head = model[0][0][0]
    assert isinstance(head, models.NormedLinear) and head.weight.dtype == torch.float64
    assert model(torch.ones(2, 4, dtype=torch.float64)).dtype == torch.float64
