"""Details of course_utils.training.engine pinned by its mutation run (issue 30): error messages asserted whole,
the printed table, the progress bar, the clock, the memory format of every batch, amp ignored on a CPU,
early stopping at the last epoch and ties in "max" mode, evaluate's names and arguments."""
import io
import re
import sys
import types
import warnings
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_utils.classification import data
from course_utils.training import checkpoints, engine, models

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one CPU thread

CPU = torch.device("cpu")


def _loaders(n=48, num_classes=9, seed=0):
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, 3, (n, 16, 16), dtype=np.uint8)
    labels = np.arange(n) % num_classes
    return (data.make_loader(data.WaferDataset(maps, labels), 16, shuffle=True, seed=seed),
            data.make_loader(data.WaferDataset(maps[:24], labels[:24]), 24))


def _linear(seed=0):
    """No BatchNorm, no dropout: with lr=0 every epoch scores exactly the same."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 9))


def _fit(model=None, loaders=None, **kwargs):
    model = model if model is not None else _linear()
    kwargs.setdefault("optimizer", torch.optim.SGD(model.parameters(), lr=0.05))
    kwargs.setdefault("loss_fn", nn.CrossEntropyLoss())
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("verbose", False)
    kwargs.setdefault("epochs", 1)
    train, val = loaders or _loaders()
    return engine.fit(model, train, val, **kwargs)


def _one_epoch(model, loader, loss_fn, **kwargs):
    return engine.train_one_epoch(model, loader, loss_fn=loss_fn, optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                                  device=CPU, scaler=torch.amp.GradScaler("cuda", enabled=False), **kwargs)


def _tensor_loader(x, y, batch_size):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size)


# ---------------------------------------------------------------------------
# helpers: device, batches, durations
# ---------------------------------------------------------------------------
def test_model_device_of_a_model_with_and_without_parameters():
    assert engine._model_device(nn.ReLU()) == CPU                        # no parameters: the CPU
    assert engine._model_device(nn.Linear(2, 2, device="meta")) == torch.device("meta")  # where the weights are


def test_a_device_of_the_wrong_type_is_named_in_predict_and_evaluate():
    model, (_, val) = _linear(), _loaders()
    for call in (engine.predict, engine.evaluate):
        with pytest.raises(TypeError) as info:
            call(model, val, 3)
        assert str(info.value) == "device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got 3."
    # fit says its device: None is refused there (env.get_device would read it as "auto"), a number too
    for wrong in (None, 0):
        with pytest.raises(TypeError) as info:
            _fit(device=wrong)
        assert str(info.value) == f"device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got {wrong!r}."
    if torch.cuda.device_count() < 8:   # the request is passed on to env.get_device, which refuses it
        with pytest.raises(RuntimeError, match=r"^device='cuda:7'"):
            engine.predict(model, val, "cuda:7")


def test_batches_that_are_not_pairs_are_refused_naming_the_loader():
    _, val = _loaders()
    x = torch.zeros(8, 3, 16, 16)
    advice = " Build it with data.make_loader(data.WaferDataset(...), ...)."
    bare = torch.utils.data.DataLoader(x, batch_size=8)           # yields tensors, not (x, y)
    single = [[x]]                                                  # a list of length 1
    for loader, kind in ((bare, "Tensor"), (single, "list")):
        with pytest.raises(TypeError) as info:
            _fit(loaders=(loader, val))
        assert str(info.value) == f"train_loader must yield (x, y) batches, got {kind}.{advice}"
    train, _ = _loaders()
    with pytest.raises(TypeError) as info:
        _fit(loaders=(train, bare))
    assert str(info.value) == f"val_loader must yield (x, y) batches, got Tensor.{advice}"


def test_predict_names_its_empty_loader():
    empty = torch.utils.data.DataLoader([], batch_size=4)
    with pytest.raises(ValueError, match=r"^loader is empty \(0 batches\)"):
        engine.predict(_linear(), empty, "cpu")
    with pytest.raises(ValueError) as info:                      # no len(): found empty while predicting
        engine.predict(_linear(), iter([]), "cpu")
    assert str(info.value) == "loader yielded no batches; nothing to evaluate."


def test_format_duration_rounds_to_whole_seconds():
    assert engine._format_duration(3725.4) == "1:02:05"   # 1 h 2 min 5 s
    assert engine._format_duration(59.6) == "0:01:00"


# ---------------------------------------------------------------------------
# train_one_epoch: the label check
# ---------------------------------------------------------------------------
def _free_loss(logits, y):
    """A loss that ignores the labels, so only the label check can object to them."""
    return logits.pow(2).mean()


def test_labels_are_checked_on_the_first_batch_only_and_only_when_asked():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(8, 4)
    late_bad = _tensor_loader(x, torch.tensor([0, 1, 2, 0, 7, 7, 7, 7]), 4)   # label 7 in the second batch
    loss, acc = _one_epoch(model, late_bad, _free_loss, check_labels=True)
    assert np.isfinite(loss) and 0 <= acc <= 1
    all_bad = _tensor_loader(x, torch.full((8,), 7), 4)
    _one_epoch(model, all_bad, _free_loss)                      # check_labels defaults to False: no check
    with pytest.raises(ValueError):
        _one_epoch(model, all_bad, _free_loss, check_labels=True)


def test_label_check_messages_are_whole():
    torch.manual_seed(0)
    x = torch.randn(4, 4)

    def message(model, y, error):
        with pytest.raises(error) as info:
            _one_epoch(model, _tensor_loader(x, y, 4), _free_loss, check_labels=True)
        return str(info.value)

    linear = nn.Linear(4, 5)
    # labels 0..5 for 5 outputs: 5 is one too many, so the model needs num_classes = 5 + 1
    assert message(linear, torch.tensor([0, 1, 5, 2]), ValueError) == (
        "Labels go up to 5 but the model outputs 5 classes; build the model with num_classes=6 (or more), "
        "or check the labels.")
    assert message(linear, torch.tensor([0, -1, 2, 2]), ValueError) == (
        "Labels go down to -1: unlabeled wafers (-1) cannot be trained on. Load the data with "
        "keep_unlabeled=False or filter labels >= 0.")
    assert message(linear, torch.tensor([0.0, 1.0, 2.0, 2.0]), TypeError) == (
        "Labels must be integer class indices, got dtype torch.float32.")
    flat = nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (2, 3)))   # logits (4, 2, 3)
    assert message(flat, torch.tensor([0, 1, 1, 0]), ValueError) == (
        "The model must output logits of shape (batch, classes); got (4, 2, 3).")
    _one_epoch(linear, _tensor_loader(x, torch.tensor([0, 1, 4, 2]), 4), _free_loss, check_labels=True)  # 4 < 5


# ---------------------------------------------------------------------------
# memory format of every batch, amp ignored on the CPU
# ---------------------------------------------------------------------------
class FormatRecorder(nn.Module):
    """A small CNN that records whether each input batch arrives in the channels-last format."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 9)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, x.is_contiguous(memory_format=torch.channels_last)))
        return self.head(self.conv(x).mean((2, 3)))


@pytest.mark.parametrize("channels_last", ["auto", False])
def test_every_batch_and_the_weights_follow_the_memory_format(channels_last):
    torch.manual_seed(0)
    model = FormatRecorder()
    train, val = _loaders()
    _fit(model=model, loaders=(train, val), channels_last=channels_last)
    wanted = channels_last == "auto"          # "auto": channels-last for a Conv2d model on the CPU
    assert model.seen == [(True, wanted)] * len(train) + [(False, wanted)] * len(val)
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last) is wanted
    for call in (engine.predict, engine.evaluate):
        torch.manual_seed(0)
        fresh = FormatRecorder()
        call(fresh, val, "cpu", channels_last=channels_last)
        assert fresh.seen == [(False, wanted)] * len(val)
        assert fresh.conv.weight.is_contiguous(memory_format=torch.channels_last) is wanted


def test_amp_is_ignored_on_the_cpu():
    # float16 autocast on the CPU would change the logits (by about 1e-5 here): amp=True must change nothing
    _, val = _loaders()
    model = _linear()
    for a, b in zip(engine.predict(model, val, "cpu", amp=True), engine.predict(model, val, "cpu", amp=False)):
        np.testing.assert_array_equal(a, b)
    cols = [c for c in engine.HISTORY_COLUMNS if c not in ("time_s", "elapsed_s")]
    runs = [_fit(model=_linear(), epochs=2, amp=amp).history[cols] for amp in (True, False)]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


# ---------------------------------------------------------------------------
# fit's defaults, argument checks, warnings, errors
# ---------------------------------------------------------------------------
def test_defaults_pick_the_device_and_print_the_table(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(engine.env, "keep_freed_memory", lambda: calls.append(1) or True)
    model = _linear()
    train, val = _loaders()
    result = engine.fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=1,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.05))  # device="auto", verbose=True
    expected = engine.env.get_device("auto")
    assert next(result.model.parameters()).device.type == expected.type
    assert calls == ([1] if expected.type == "cpu" else [])     # the CPU allocator setting, once per fit
    assert capsys.readouterr().out.splitlines()[0].split()[0] == "Epoch"
    assert result.history["epoch"].dtype == np.int64


def test_fit_refuses_bad_grad_clip_early_stopping_and_transform():
    cases = [(dict(grad_clip=0), ValueError,
              "grad_clip must be None or a positive max gradient norm such as 1.0, got 0."),
             (dict(early_stopping=0), ValueError,
              "early_stopping must be None or a patience in epochs (positive integer), got 0."),
             (dict(batch_transform="flip"), TypeError, "batch_transform must be callable x -> x, got 'flip'.")]
    for kwargs, error, text in cases:
        with pytest.raises(error) as info:
            _fit(**kwargs)
        assert str(info.value) == text


def test_class_names_of_the_wrong_length_warn_once_and_right_ones_do_not():
    with pytest.warns(UserWarning) as record:
        _fit(class_names=["a", "b", "c"])
    assert [str(w.message) for w in record] == [
        "The model outputs 9 classes but class_names has 3 names; reports will mislabel classes. "
        "Pass class_names=..."]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(class_names=[str(i) for i in range(9)], epochs=2)
        torch.manual_seed(0)   # no nn.Linear classifier layer: its number of outputs is unknown, no warning
        conv_only = nn.Sequential(nn.Conv2d(3, 9, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        _fit(model=conv_only, class_names=["a", "b", "c"])


def test_divergence_in_the_first_epoch_says_no_checkpoint_was_written(tmp_path):
    def nan_loss(logits, y):
        return nn.functional.cross_entropy(logits, y) * float("nan")

    for ckpt_dir in (tmp_path, None):   # epoch 0 diverged: nothing good to keep, with or without a folder
        with pytest.raises(FloatingPointError) as info:
            _fit(loss_fn=nan_loss, checkpoint_dir=ckpt_dir)
        assert str(info.value) == (
            "The training loss of epoch 1 is nan: training diverged. No checkpoint was written. Lower the "
            "learning rate, set grad_clip=1.0, or check the inputs and loss for NaN/inf.")


def test_a_score_that_is_nan_in_every_epoch_is_named():
    class NanInEval(nn.Module):  # trains normally, predicts NaN: the validation loss is NaN every epoch
        def __init__(self):
            super().__init__()
            self.body = _linear()

        def forward(self, x):
            out = self.body(x)
            return out if self.training else out * float("nan")

    with pytest.raises(ValueError) as info:
        _fit(model=NanInEval(), monitor="val_loss", epochs=2)
    assert str(info.value) == ("val_loss was NaN in every epoch; check the model's outputs and the "
                               "validation data.")


def test_result_paths(tmp_path):
    result = _fit(checkpoint_dir=tmp_path)
    assert result.last_path == tmp_path / "last.pt" and result.best_path == tmp_path / "best.pt"
    bare = _fit()
    assert bare.last_path is None and bare.best_path is None


# ---------------------------------------------------------------------------
# early stopping: ties in "max" mode, the last epoch
# ---------------------------------------------------------------------------
def test_a_tie_in_max_mode_is_no_improvement_and_stopping_on_the_last_epoch_is_no_early_stop(capsys):
    # lr=0 and no BatchNorm: every epoch scores exactly the same, so epochs 2 and 3 tie with epoch 1
    model = _linear()
    result = _fit(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), epochs=4,
                  early_stopping=2, monitor="val_acc", verbose=True)
    h = result.history
    assert h["val_acc"].nunique() == 1                          # the premise: the score stalls
    assert result.stopped_early and len(h) == 3 and result.best_epoch == 1   # 3 + 1 < 4 epochs: stopped early
    out = capsys.readouterr().out
    assert (f"Early stopping: val_acc has not improved for 2 epochs (best {h['val_acc'][0]:.4f} at epoch 1)."
            in out.splitlines())
    model = _linear()
    result = _fit(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), epochs=3,
                  early_stopping=2, monitor="val_acc")
    assert not result.stopped_early and len(result.history) == 3  # patience ran out on the last epoch itself


# ---------------------------------------------------------------------------
# the printed table, the clock, the progress bar
# ---------------------------------------------------------------------------
class FlushCounter(io.StringIO):
    flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


ROW = dict(epoch=1, lr=0.1, train_loss=0.5, val_loss=0.25, train_acc=0.5, val_acc=0.75, val_macro_f1=0.625,
           time_s=12.34, elapsed_s=3725.4)


@pytest.mark.parametrize("epochs, head", [(9, "Epoch"), (100, "  Epoch")])
def test_header_and_row_columns_and_flush(monkeypatch, epochs, head):
    # the epoch column is max(5, 2 * digits + 1) wide: 5 for 9 epochs ("1/9" padded), 7 for 100 ("1/100")
    out = FlushCounter()
    monkeypatch.setattr(sys, "stdout", out)
    engine._print_header(epochs)
    engine._print_row(ROW, epochs, improved=False, mean_epoch_s=1800.0)
    lines = out.getvalue().splitlines()
    assert out.flushes == 2                                     # each line is shown at once
    assert lines[0] == (f"{head}  Best  Acc/trn  Acc/val  macro-F1/val  loss trn/val   Time/e   Elapsed  "
                        "Expected end")
    epoch_cell = "  1/9" if epochs == 9 else "  1/100"
    assert lines[1].startswith(f"{epoch_cell}   -     0.5000   0.7500        0.6250  0.5000/0.2500    "
                               "12.3s   1:02:05  ")
    remaining = 1800.0 * (epochs - 1)                           # 8 or 99 epochs left at 30 min each
    assert lines[1].endswith(f"(in {remaining / 3600:.2f} h)")  # 4.00 h or 49.50 h
    end = datetime.strptime(re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) \(in ", lines[1]).group(1), "%Y-%m-%d %H:%M")
    assert abs((end - (datetime.now() + timedelta(seconds=remaining))).total_seconds()) < 600  # now + remaining
    out = FlushCounter()
    monkeypatch.setattr(sys, "stdout", out)
    engine._print_row(ROW, epochs, improved=True, mean_epoch_s=1800.0)
    assert out.getvalue().startswith(f"{epoch_cell}   +   ")


class FakeClock:
    """time.perf_counter for engine: each call is one hour after the previous one."""

    def __init__(self):
        self.t = 0.0

    def perf_counter(self):
        self.t += 3600.0
        return self.t


def test_times_and_expected_end_follow_the_clock_across_a_resume(tmp_path, monkeypatch, capsys):
    # perf_counter is read at the start of fit, then at the start and the end of every epoch
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=FakeClock().perf_counter))
    first = _fit(checkpoint_dir=tmp_path, epochs=1, verbose=False)
    assert first.history[["time_s", "elapsed_s"]].values.tolist() == [[3600.0, 7200.0]]
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=FakeClock().perf_counter))
    capsys.readouterr()
    model = _linear()
    result = _fit(model=model, checkpoint_dir=tmp_path, epochs=3, resume=True, verbose=True,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.05))
    # resumed at 7,200 s elapsed: the new run starts at 1 h, epoch 2 runs from 2 h to 3 h, epoch 3 from 4 h to 5 h
    assert result.history["time_s"].tolist() == [3600.0, 3600.0, 3600.0]
    assert result.history["elapsed_s"].tolist() == [7200.0, 7200.0 + 7200.0, 7200.0 + 14400.0]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"Resumed from {tmp_path / 'last.pt'} after epoch 1 (best epoch 1, "
                        f"val_macro_f1={first.best_score:.4f}).")
    assert lines[1].startswith("Epoch  Best")
    # mean epoch time of this run: 2 h / 1 epoch, then 4 h / 2 epochs; 1 and 0 epochs left
    assert lines[2].startswith("  2/3") and lines[2].endswith("(in 2.00 h)")
    assert lines[3].startswith("  3/3") and lines[3].endswith("(in 0.00 h)")
    assert len(lines) == 4
    # resuming a finished run prints neither the header nor a row
    capsys.readouterr()
    _fit(model=_linear(), checkpoint_dir=tmp_path, epochs=3, resume=True, verbose=True)
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["Resumed"]


def test_quiet_fit_prints_nothing(capsys):
    _fit(verbose=False, epochs=2)
    assert capsys.readouterr().out == ""


def test_progress_bar_arguments_and_updates(monkeypatch):
    bars = []

    class FakeBar:
        def __init__(self, **kwargs):
            self.kwargs, self.updates, self.closed = kwargs, 0, False
            bars.append(self)

        def update(self):
            self.updates += 1

        def close(self):
            self.closed = True

    monkeypatch.setattr(engine, "tqdm", FakeBar)
    train, val = _loaders()
    for verbose in (False, True):
        bars.clear()
        _fit(loaders=(train, val), epochs=2, verbose=verbose)
        assert [b.kwargs for b in bars] == [dict(total=len(train), desc=f"epoch {e}/2", leave=False, mininterval=1.0,
                                                 disable=not verbose) for e in (1, 2)]
        assert [(b.updates, b.closed) for b in bars] == [(len(train), True)] * 2
    bars.clear()
    batches = list(train)
    _fit(loaders=(iter(batches), val), epochs=1)                # no len(): a bar without a total
    assert bars[0].kwargs["total"] is None and bars[0].updates == len(batches)


# ---------------------------------------------------------------------------
# evaluate: names, report, probabilities
# ---------------------------------------------------------------------------
def test_evaluate_uses_the_class_names_and_returns_predicts_probabilities():
    _, val = _loaders()
    model = _linear()
    names = [f"c{i}" for i in range(9)]
    result = engine.evaluate(model, val, "cpu", names)
    y_true, y_pred, probs = engine.predict(model, val, "cpu")
    np.testing.assert_array_equal(result.probs, probs)
    np.testing.assert_array_equal(result.y_pred, y_pred)
    assert list(result.confusion.index) == names and list(result.confusion.columns) == names
    assert list(result.report.index[:9]) == names
    assert result.report.loc["c0", "support"] == int((y_true == 0).sum())
    np.testing.assert_allclose(result.confusion.sum(axis=1), 1.0)   # normalised by actual label
    with pytest.raises(ValueError) as info:
        engine.evaluate(model, val, "cpu", names[:3])
    assert str(info.value) == ("The model outputs 9 classes but class_names has 3 names; pass the matching "
                               "class_names.")


def test_expected_end_divides_the_run_time_by_the_epochs_done(monkeypatch, capsys):
    # fresh 3-epoch run, the fake clock ticks 1 h per read: fit starts at 0 h, epoch 1 runs 1-2 h, epoch 2 3-4 h,
    # epoch 3 5-6 h. Mean epoch time: 2 h / 1 = 2 h (2 epochs left: 4 h), then 4 h / 2 = 2 h (1 left: 2 h), then 0 left.
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=FakeClock().perf_counter))
    _fit(epochs=3, verbose=True)
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.rsplit("(", 1)[1] for row in rows] == ["in 4.00 h)", "in 2.00 h)", "in 0.00 h)"]
