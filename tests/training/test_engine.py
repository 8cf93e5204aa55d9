import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn

from course_utils.training import checkpoints, engine, metrics, models
from course_utils.classification import data

# Builds a tiny, fully seeded run. Executed both in a subprocess (the run that gets
# killed) and in this process (the resumed and the uninterrupted runs).
SETUP = textwrap.dedent("""
    import numpy as np, torch
    from torch import nn
    from course_utils.training import models
    from course_utils.classification import data

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 3, (200, 16, 16), dtype=np.uint8)
    labels = np.arange(200) % 9
    maps[labels == 0, 6:10, 6:10] = 2          # make one class learnable
    train_loader = data.make_loader(data.WaferDataset(maps[:150], labels[:150]), 32, shuffle=True, seed=1)
    val_loader = data.make_loader(data.WaferDataset(maps[150:], labels[150:]), 64)
    model = models.WaferCNN(widths=(4, 8), dropout=0.5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-2, total_steps=4 * len(train_loader))

    class Augment:  # random flips from a private generator, so its state must survive the resume too
        def __init__(self, kill_at=None):
            self.generator = torch.Generator().manual_seed(3)
            self.calls, self.kill_at = 0, kill_at
        def __call__(self, x):
            self.calls += 1
            if self.calls == self.kill_at:
                import os, signal
                os.kill(os.getpid(), signal.SIGKILL)
            flip = torch.rand(len(x), generator=self.generator) < 0.5
            return torch.where(flip[:, None, None, None], x.flip(-1), x)
""")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one CPU thread


def tiny_loaders(n=120, size=16, batch_size=32, num_classes=9, seed=0):
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, 3, (n, size, size), dtype=np.uint8)
    labels = np.arange(n) % num_classes
    train = data.make_loader(data.WaferDataset(maps, labels), batch_size, shuffle=True, seed=seed)
    val = data.make_loader(data.WaferDataset(maps[: n // 2], labels[: n // 2]), 64)
    return train, val


def tiny_fit(tmp_path=None, epochs=2, model=None, loaders=None, **kwargs):
    torch.manual_seed(0)
    model = model or models.WaferCNN(widths=(4, 8))
    train, val = loaders or tiny_loaders()
    kwargs.setdefault("optimizer", torch.optim.AdamW(model.parameters(), lr=1e-2))
    kwargs.setdefault("loss_fn", nn.CrossEntropyLoss())
    return engine.fit(model, train, val, epochs=epochs, device="cpu", verbose=False,
                      checkpoint_dir=tmp_path, **kwargs)


def test_fit_history_checkpoints_and_best_weights(tmp_path):
    result = tiny_fit(tmp_path, epochs=3)
    h = result.history
    assert list(h.columns) == list(engine.HISTORY_COLUMNS)
    assert h["epoch"].tolist() == [1, 2, 3]
    assert result.best_epoch == int(h.loc[h["val_macro_f1"].idxmax(), "epoch"])
    assert result.best_score == pytest.approx(h["val_macro_f1"].max())
    assert (h["elapsed_s"].diff().dropna() > 0).all()
    csv = pd.read_csv(tmp_path / "history.csv")
    np.testing.assert_allclose(csv["val_loss"], h["val_loss"])
    best = checkpoints.load_checkpoint(result.best_path)
    assert best["epoch"] == result.best_epoch
    assert all(torch.equal(v, result.model.state_dict()[k]) for k, v in best["model"].items())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # atomic writes leave no temp


def test_history_metrics_match_an_independent_evaluation(tmp_path):
    result = tiny_fit(tmp_path, epochs=2)
    model = models.WaferCNN(widths=(4, 8))
    checkpoints.load_checkpoint(tmp_path / "last.pt", model)
    _, val = tiny_loaders()
    y_true, y_pred, probs = engine.predict(model, val, "cpu")
    assert y_true.dtype == np.int64 and y_pred.dtype == np.int64 and probs.dtype == np.float32
    assert probs.shape == (60, 9)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(y_pred, probs.argmax(1))
    last = result.history.iloc[-1]
    assert last["val_acc"] == pytest.approx((y_true == y_pred).mean())
    assert last["val_macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    logits = torch.log(torch.as_tensor(probs))
    assert last["val_loss"] == pytest.approx(nn.functional.nll_loss(logits, torch.as_tensor(y_true)).item(),
                                             rel=1e-4)
    report = engine.evaluate(model, val, "cpu")
    assert report.macro_f1 == pytest.approx(last["val_macro_f1"], abs=1e-4)
    np.testing.assert_allclose(report.confusion.sum(axis=1), 1.0)


def test_schedulers_step_per_batch_or_per_epoch():
    train, val = tiny_loaders()
    model = models.WaferCNN(widths=(4, 8))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2 * len(train))
    tiny_fit(epochs=2, model=model, loaders=(train, val), optimizer=opt, scheduler=one_cycle)
    assert one_cycle.last_epoch == 2 * len(train)
    model = models.WaferCNN(widths=(4, 8))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    result = tiny_fit(epochs=3, model=model, loaders=(train, val), optimizer=opt, scheduler=step)
    np.testing.assert_allclose(result.history["lr"], [0.1, 0.05, 0.025])


def test_set_epoch_batch_transform_and_grad_clip():
    class Loss(nn.CrossEntropyLoss):
        epochs_seen = []

        def set_epoch(self, epoch):
            self.epochs_seen.append(epoch)

    calls = []

    def transform(x):
        calls.append((x.device.type, tuple(x.shape[1:])))
        return x

    train, val = tiny_loaders()
    torch.manual_seed(0)
    model = models.WaferCNN(widths=(4, 8))
    before = [p.detach().clone() for p in model.parameters()]
    loss = Loss()
    tiny_fit(epochs=2, model=model, loaders=(train, val), loss_fn=loss, batch_transform=transform,
             optimizer=torch.optim.SGD(model.parameters(), lr=1.0), grad_clip=1e-6)
    assert loss.epochs_seen == [0, 1]
    assert calls == [("cpu", (3, 16, 16))] * (2 * len(train))
    moved = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert moved <= 2 * len(train) * 1e-6 * 1.01  # each SGD step moves at most lr * max_norm


def test_monitor_val_loss_picks_the_minimum():
    result = tiny_fit(epochs=3, monitor="val_loss")
    h = result.history
    assert result.best_epoch == int(h.loc[h["val_loss"].idxmin(), "epoch"])


def test_label_range_is_checked_against_model_outputs():
    model = models.WaferCNN(widths=(4, 8), num_classes=5)
    with pytest.raises(ValueError, match="Labels go up to 8 but the model outputs 5 classes"):
        tiny_fit(model=model)


def test_empty_loader_and_bad_arguments(tmp_path):
    train, val = tiny_loaders()
    model = models.WaferCNN(widths=(4, 8))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    empty = torch.utils.data.DataLoader([], batch_size=4)
    common = dict(loss_fn=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, device="cpu", verbose=False)
    with pytest.raises(ValueError, match="train_loader is empty"):
        engine.fit(model, empty, val, **common)
    with pytest.raises(ValueError, match="val_loader is empty"):
        engine.fit(model, train, empty, **common)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        engine.fit(model, train, val, **{**common, "epochs": 0})
    with pytest.raises(ValueError, match="monitor must be one of"):
        engine.fit(model, train, val, monitor="f1", **common)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        engine.fit(model, train, val, resume=True, **common)
    other = torch.optim.SGD(models.WaferCNN(widths=(4, 8)).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="built for another model"):
        engine.fit(model, train, val, **{**common, "optimizer": other})
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min")
    with pytest.raises(ValueError, match="use mode='max'"):
        engine.fit(model, train, val, scheduler=plateau, **common)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "missing.pt")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    class ExplodingLoss(nn.CrossEntropyLoss):
        epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def forward(self, logits, y):
            loss = super().forward(logits, y)
            return loss * float("nan") if self.epoch == 1 else loss

    with pytest.raises(FloatingPointError, match="training loss of epoch 2 is nan.*epoch 1"):
        tiny_fit(tmp_path, epochs=3, loss_fn=ExplodingLoss())
    last = checkpoints.load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_resume_from_another_model_is_refused(tmp_path):
    tiny_fit(tmp_path, epochs=1)
    model = models.WaferCNN(widths=(4, 16))
    with pytest.raises(ValueError, match="different model"):
        tiny_fit(tmp_path, epochs=2, model=model, resume=True)


def _run_setup():
    namespace = {}
    exec(SETUP, namespace)
    return namespace


def _fit_from_setup(ns, checkpoint_dir, resume=False):
    return engine.fit(ns["model"], ns["train_loader"], ns["val_loader"], loss_fn=nn.CrossEntropyLoss(),
                      optimizer=ns["optimizer"], scheduler=ns["scheduler"], epochs=4, device="cpu",
                      checkpoint_dir=checkpoint_dir, resume=resume, batch_transform=ns["Augment"](),
                      verbose=False)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_run_resumes_bit_identical(tmp_path):
    killed_dir = tmp_path / "killed"
    child = SETUP + textwrap.dedent(f"""
        from course_utils.training import engine
        engine.fit(model, train_loader, val_loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                   scheduler=scheduler, epochs=4, device="cpu", checkpoint_dir={str(killed_dir)!r},
                   batch_transform=Augment(kill_at=2 * len(train_loader) + 2), verbose=False)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr  # killed in the middle of epoch 3
    assert checkpoints.load_checkpoint(killed_dir / "last.pt")["epoch"] == 2

    resumed = _fit_from_setup(_run_setup(), killed_dir, resume=True)
    reference = _fit_from_setup(_run_setup(), tmp_path / "reference")

    metric_cols = [c for c in engine.HISTORY_COLUMNS if c not in ("time_s", "elapsed_s")]
    pd.testing.assert_frame_equal(resumed.history[metric_cols], reference.history[metric_cols], check_exact=True)
    assert resumed.best_epoch == reference.best_epoch
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    last_a = checkpoints.load_checkpoint(killed_dir / "last.pt")
    last_b = checkpoints.load_checkpoint(tmp_path / "reference" / "last.pt")
    for key, value in last_b["model"].items():
        assert torch.equal(value, last_a["model"][key]), key
    assert last_a["rng"]["loader"][0].equal(last_b["rng"]["loader"][0])


def test_verbose_prints_one_row_per_epoch(capsys):
    train, val = tiny_loaders()
    model = models.WaferCNN(widths=(4, 8))
    engine.fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.AdamW(model.parameters()),
               epochs=2, device="cpu", verbose=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0].split()[:5] == ["Epoch", "Best", "Acc/trn", "Acc/val", "macro-F1/val"]
    assert lines[1].split()[:2] == ["1/2", "+"] and lines[2].split()[0] == "2/2"
    assert "(in " in lines[1] and " h)" in lines[1]


def test_resume_with_another_monitor_is_refused(tmp_path):
    tiny_fit(tmp_path, epochs=1)
    with pytest.raises(ValueError, match="resume with the same monitor"):
        tiny_fit(tmp_path, epochs=2, resume=True, monitor="val_loss")


def test_resume_with_a_truncated_best_checkpoint_names_the_file(tmp_path):
    tiny_fit(tmp_path, epochs=2)
    last = checkpoints.load_checkpoint(tmp_path / "last.pt")
    last["best_epoch"] = 1  # the best epoch is not the last one: resume must read best.pt
    checkpoints.save_checkpoint(last, tmp_path / "last.pt")
    best = tmp_path / "best.pt"
    best.write_bytes(best.read_bytes()[:200])
    with pytest.raises(ValueError) as err:
        tiny_fit(tmp_path, epochs=3, resume=True)
    assert f"Could not read the checkpoint {best}" in str(err.value) and "delete it" in str(err.value)
    assert not isinstance(err.value.__cause__, type(None))


def test_evaluation_result_scores_are_not_rounded():
    from sklearn.metrics import accuracy_score, f1_score

    y_true = np.array([0, 1, 2, 2, 1, 0, 2])
    y_pred = np.array([0, 2, 2, 2, 1, 1, 0])
    report = metrics.classification_report_df(y_true, y_pred, ["a", "b", "c"], digits=1)
    result = engine.EvaluationResult(y_true, y_pred, np.zeros((7, 3), np.float32), report, report)
    assert result.accuracy == accuracy_score(y_true, y_pred)
    assert result.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)


# ---------------------------------------------------------------------------
# Issue 30: training figures cross-checked, label floor, plateau scheduler
# ---------------------------------------------------------------------------
def _linear_case(n=70, features=12, classes=4, seed=0):
    """A model without BatchNorm or dropout, so lr=0 leaves it exactly unchanged (eval == train forward)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    torch.manual_seed(seed)
    model = nn.Linear(features, classes)
    return model, x, y


def test_train_loss_and_accuracy_are_weighted_by_batch_size():
    # 70 samples in batches of 32, 32, 6: the per-sample mean (what CrossEntropyLoss over all 70 gives)
    # differs from the mean of the three batch means, and the accuracy counts correct predictions.
    model, x, y = _linear_case()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=False)
    with torch.no_grad():
        logits = model(x)
        expected_loss = nn.functional.cross_entropy(logits, y).item()
        batch_means = np.mean([nn.functional.cross_entropy(logits[i:i + 32], y[i:i + 32]).item()
                               for i in range(0, 70, 32)])
    expected_acc = float((logits.argmax(1) == y).float().mean())
    assert abs(batch_means - expected_loss) > 1e-3  # the case tells the two means apart
    assert 0 < expected_acc < 1                      # and right from wrong predictions
    loss, acc = engine.train_one_epoch(model, loader, loss_fn=nn.CrossEntropyLoss(),
                                       optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                                       device=torch.device("cpu"), scaler=torch.amp.GradScaler("cuda", enabled=False))
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == pytest.approx(expected_acc)


def test_negative_labels_are_refused_with_advice():
    train, val = tiny_loaders()
    # WaferDataset refuses -1 itself; a plain TensorDataset (as a student may build) does not
    x = torch.zeros(8, 3, 16, 16)
    bad = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.tensor([0, 1, -1, 2] * 2)), batch_size=8)
    with pytest.raises(ValueError, match=r"Labels go down to -1.*keep_unlabeled=False"):
        tiny_fit(loaders=(bad, val))


def test_plateau_scheduler_receives_the_monitored_score():
    class Recording(torch.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics, *args, **kwargs):
            self.seen.append(float(metrics))
            return super().step(metrics, *args, **kwargs)

    for monitor in ("val_loss", "val_macro_f1"):
        model = models.WaferCNN(widths=(4, 8))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        plateau = Recording(opt, mode="min" if monitor == "val_loss" else "max", patience=0)
        plateau.seen = []
        result = tiny_fit(epochs=3, model=model, optimizer=opt, scheduler=plateau, monitor=monitor)
        np.testing.assert_allclose(plateau.seen, result.history[monitor].to_numpy(), rtol=1e-12)


def test_early_stopping_counts_a_tie_as_no_improvement():
    # lr=0 and no BatchNorm: every epoch has exactly the same val_loss, so epochs 2 and 3 tie with epoch 1.
    # A tie is not an improvement: with early_stopping=2 the run stops after epoch 3 and keeps epoch 1.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 9))
    result = tiny_fit(epochs=6, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                      early_stopping=2, monitor="val_loss")
    h = result.history
    assert h["val_loss"].nunique() == 1  # the premise: the score really stalls
    assert result.stopped_early and len(h) == 3 and result.best_epoch == 1


def test_predict_defaults_to_the_models_device_and_results_print_their_figures():
    result = tiny_fit(epochs=1)
    _, val = tiny_loaders()
    on_cpu = engine.predict(result.model, val, "cpu")
    by_default = engine.predict(result.model, val)  # device=None: where the model's parameters are
    for a, b in zip(on_cpu, by_default):
        np.testing.assert_array_equal(a, b)
    text = repr(result)
    assert f"best_epoch={result.best_epoch}" in text and f"val_macro_f1={result.best_score:.4f}" in text
    report = engine.evaluate(result.model, val, "cpu")
    assert repr(report) == (f"EvaluationResult(n=60, accuracy={(on_cpu[0] == on_cpu[1]).mean():.4f}, "
                            f"macro_f1={f1_score(on_cpu[0], on_cpu[1], average='macro'):.4f})")
