"""Tests of course_utils.training.checkpoints: atomic writes, clear errors for damaged or foreign files, and a
resume that restores optimizer, scheduler, scaler, random states and epoch (same numbers as an uninterrupted run).

Tiny tensors only: a 6-feature MLP on 40 samples, so every fit here takes a fraction of a second.
(The killed-process resume of the course CNN is tested in test_engine.py.)
"""
import pathlib
import random
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_utils.classification import data
from course_utils.training import checkpoints, engine

METRICS = [c for c in checkpoints.HISTORY_COLUMNS if c not in ("time_s", "elapsed_s")]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one CPU thread


class Jitter:
    """A batch transform with its own generator (its state must survive a resume)."""

    def __init__(self, seed=3):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x):
        return x + 0.1 * torch.randn(x.shape, generator=self.generator)


def _setup(model_seed=0, scheduler=True, shuffle=True):
    """Loaders, a dropout MLP (draws from torch's global generator), AdamW and StepLR(gamma=0.5)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    train = data.make_loader(torch.utils.data.TensorDataset(x[:32], y[:32]), 8, shuffle=shuffle,
                             seed=1 if shuffle else None)
    val = data.make_loader(torch.utils.data.TensorDataset(x[32:], y[32:]), 8)
    torch.manual_seed(model_seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5) if scheduler else None
    return dict(model=model, train=train, val=val, optimizer=optimizer, scheduler=sched)


def _fit(s, ckpt_dir, epochs, resume=False, transform=None, verbose=False):
    return engine.fit(s["model"], s["train"], s["val"], loss_fn=nn.CrossEntropyLoss(), optimizer=s["optimizer"],
                      scheduler=s["scheduler"], epochs=epochs, device="cpu", checkpoint_dir=ckpt_dir,
                      resume=resume, batch_transform=transform, verbose=verbose)


def _resume(s, ckpt_dir, transform=None, monitor="val_macro_f1", scaler=None, verbose=False):
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
    return checkpoints.resume_progress(pathlib.Path(ckpt_dir), s["model"], s["optimizer"], s["scheduler"], scaler,
                                       s["train"], transform, monitor=monitor, device=torch.device("cpu"),
                                       verbose=verbose)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A 2-epoch run with scheduler and transform; its folder and its live objects at the end."""
    folder = tmp_path_factory.mktemp("two_epochs")
    s, jitter = _setup(), Jitter()
    result = _fit(s, folder, epochs=2, transform=jitter)
    end = dict(torch=torch.get_rng_state(), loader=s["train"].rng_generators[0].get_state(),
               transform=jitter.generator.get_state(), optimizer=s["optimizer"].state_dict())
    return folder, result, end


def _copy(folder, tmp_path):
    return pathlib.Path(shutil.copytree(folder, tmp_path / "copy"))


# ---------------------------------------------------------------------------
# Writing and reading
# ---------------------------------------------------------------------------
def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoints.save_checkpoint({"model": {"w": torch.ones(2)}, "epoch": 1}, path)
    before = path.read_bytes()

    def disk_full(obj, f):  # half a file, then the error a full disk gives
        f.write(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save_checkpoint({"model": {"w": torch.zeros(2)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # the temporary file is removed
    back = checkpoints.load_checkpoint(path)
    assert back["epoch"] == 1 and torch.equal(back["model"]["w"], torch.ones(2))


def test_save_then_load_replaces_the_models_weights(tmp_path):
    torch.manual_seed(0)
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    path = checkpoints.save_checkpoint({"model": source.state_dict(), "epoch": 4}, tmp_path / "sub" / "a.pt")
    assert path == tmp_path / "sub" / "a.pt"
    ckpt = checkpoints.load_checkpoint(path, target)
    assert ckpt["epoch"] == 4
    assert torch.equal(target.weight, source.weight) and torch.equal(target.bias, source.bias)


@pytest.mark.parametrize("damage", ["truncated", "text", "empty", "foreign object"])
def test_a_damaged_checkpoint_gives_a_clear_error(tmp_path, damage):
    path = tmp_path / "last.pt"
    checkpoints.save_checkpoint({"model": nn.Linear(3, 2).state_dict(), "epoch": 1}, path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "text":
        path.write_text("epoch,loss\n1,0.5\n")
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a pickled object that weights_only=True refuses to build
        torch.save({"model": {}, "path": pathlib.PurePosixPath("x")}, path)
    with pytest.raises(ValueError) as info:
        checkpoints.load_checkpoint(path)
    text = str(info.value)
    assert text.startswith(f"Could not read the checkpoint {path} (")
    assert text.endswith("The file is damaged or was not written by engine.fit; delete it and train again.")
    assert info.value.__cause__ is not None  # torch's own error stays attached
    assert f"({type(info.value.__cause__).__name__}: " in text  # and is named in the message


def test_load_checkpoint_maps_tensors_to_the_given_device(tmp_path):
    # "meta" stands for another device on a CPU-only machine (a GPU checkpoint read on a laptop is mapped alike)
    path = checkpoints.save_checkpoint({"model": nn.Linear(3, 2).state_dict()}, tmp_path / "a.pt")
    ckpt = checkpoints.load_checkpoint(path, map_location="meta")
    assert {v.device.type for v in ckpt["model"].values()} == {"meta"}
    assert {v.device.type for v in checkpoints.load_checkpoint(path)["model"].values()} == {"cpu"}


def test_a_missing_checkpoint_names_the_files_fit_writes(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        checkpoints.load_checkpoint(tmp_path / "best.pt")
    assert str(info.value) == (f"No checkpoint at {tmp_path / 'best.pt'}. fit(..., checkpoint_dir=DIR) writes "
                               "DIR/best.pt and DIR/last.pt.")


@pytest.mark.parametrize("content", [torch.zeros(3), {"weights": {}}])
def test_a_readable_file_that_is_not_a_fit_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "weights.pt"
    torch.save(content, path)
    with pytest.raises(ValueError) as info:
        checkpoints.load_checkpoint(path)
    assert str(info.value) == f"{path} is not an engine.fit checkpoint (no 'model' entry)."


def _mismatch(tmp_path, saved: nn.Module, model: nn.Module) -> str:
    path = checkpoints.save_checkpoint({"model": saved.state_dict()}, tmp_path / "m.pt")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as info:
        checkpoints.load_checkpoint(path, model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing loaded
    prefix = f"The checkpoint {path} was saved from a different model than {type(model).__name__} ("
    suffix = ("). Build the model with the same arguments, or use another checkpoint_dir / resume=False to "
              "start a new run.")
    text = str(info.value)
    assert text.startswith(prefix) and text.endswith(suffix)
    return text[len(prefix):-len(suffix)]


def test_a_checkpoint_of_another_model_names_the_differences(tmp_path):
    # Linear's keys are weight, bias; Sequential(Linear) prefixes them with the layer index 0
    assert _mismatch(tmp_path, nn.Linear(2, 3), nn.Sequential(nn.Linear(2, 3))) == (
        "missing in checkpoint: ['0.weight', '0.bias']; not in the model: ['weight', 'bias']")
    # three layers: 6 missing keys, the first 4 listed, then "..."
    three = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 3))
    assert _mismatch(tmp_path, nn.Linear(2, 3), three) == (
        "missing in checkpoint: ['0.weight', '0.bias', '1.weight', '1.bias'] ...; "
        "not in the model: ['weight', 'bias']")
    assert _mismatch(tmp_path, three, nn.Linear(2, 3)).startswith("missing in checkpoint: ['weight', 'bias']; "
                                                                  "not in the model: ['0.weight', '0.bias', "
                                                                  "'1.weight', '1.bias'] ...")
    # only missing keys (a layer added to the model): refused before load_state_dict's own error
    assert _mismatch(tmp_path, nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3))) == (
        "missing in checkpoint: ['1.weight', '1.bias']")
    # exactly 4 keys are listed whole; 5 (a last layer without bias) get "..."
    two = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 3))
    assert _mismatch(tmp_path, nn.Linear(2, 3), two) == (
        "missing in checkpoint: ['0.weight', '0.bias', '1.weight', '1.bias']; not in the model: ['weight', 'bias']")
    assert _mismatch(tmp_path, two, nn.Linear(2, 3)) == (
        "missing in checkpoint: ['weight', 'bias']; not in the model: ['0.weight', '0.bias', '1.weight', '1.bias']")
    five = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 3, bias=False))
    assert _mismatch(tmp_path, nn.Linear(2, 3), five).startswith(
        "missing in checkpoint: ['0.weight', '0.bias', '1.weight', '1.bias'] ...; ")
    assert _mismatch(tmp_path, five, nn.Linear(2, 3)).endswith(
        "not in the model: ['0.weight', '0.bias', '1.weight', '1.bias'] ...")
    # exactly 3 different shapes: listed whole
    assert _mismatch(tmp_path, nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3, bias=False)),
                     nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 4, bias=False))) == (
        "different shapes (checkpoint vs model): ['0.weight (3, 2) vs (4, 2)', '0.bias (3,) vs (4,)', "
        "'1.weight (3, 3) vs (4, 4)']")
    # same names, 3 vs 4 outputs: weight (out, in) = (3, 2) vs (4, 2), bias (3,) vs (4,)
    assert _mismatch(tmp_path, nn.Linear(2, 3), nn.Linear(2, 4)) == (
        "different shapes (checkpoint vs model): ['weight (3, 2) vs (4, 2)', 'bias (3,) vs (4,)']")
    wide = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 4))
    assert _mismatch(tmp_path, nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3)), wide) == (
        "different shapes (checkpoint vs model): ['0.weight (3, 2) vs (4, 2)', '0.bias (3,) vs (4,)', "
        "'1.weight (3, 3) vs (4, 4)'] ...")


# ---------------------------------------------------------------------------
# Resume
# ---------------------------------------------------------------------------
def test_resume_restores_optimizer_scheduler_epoch_and_random_states(two_epochs, capsys):
    folder, result, end = two_epochs
    s, jitter = _setup(model_seed=7), Jitter(seed=99)  # other initial weights and generator states
    torch.manual_seed(123)
    state = _resume(s, folder, transform=jitter, verbose=True)
    assert state.start_epoch == 2 and len(state.rows) == 2 and not state.stopped_early
    pd.testing.assert_frame_equal(pd.DataFrame(state.rows)[METRICS], result.history[METRICS], check_dtype=False)
    # StepLR(step_size=1, gamma=0.5) stepped after each of the 2 epochs: lr = 0.1 * 0.5 ** 2 = 0.025
    assert s["scheduler"].last_epoch == 2
    assert s["optimizer"].param_groups[0]["lr"] == pytest.approx(0.025)
    saved_opt, opt = end["optimizer"], s["optimizer"].state_dict()
    assert opt["state"].keys() == saved_opt["state"].keys() and len(opt["state"]) == 4  # 2 layers x (W, b)
    for key, moments in saved_opt["state"].items():
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt["state"][key][name], moments[name]), (key, name)
    raw = torch.load(folder / "last.pt", weights_only=True)  # read without the module under test
    for key, value in s["model"].state_dict().items():
        assert torch.equal(value, raw["model"][key]), key
    assert torch.equal(torch.get_rng_state(), end["torch"])
    assert torch.equal(s["train"].rng_generators[0].get_state(), end["loader"])
    assert torch.equal(jitter.generator.get_state(), end["transform"])
    h = result.history
    best = int(h.loc[h["val_macro_f1"].idxmax(), "epoch"])  # first maximum: a tie is no improvement
    assert state.best_epoch == best and state.best_score == pytest.approx(h["val_macro_f1"].max())
    assert capsys.readouterr().out == (f"Resumed from {folder / 'last.pt'} after epoch 2 (best epoch {best}, "
                                       f"val_macro_f1={h['val_macro_f1'].max():.4f}).\n")


def test_resumed_run_gives_the_numbers_of_an_uninterrupted_run(two_epochs, tmp_path):
    folder, _, _ = two_epochs
    resumed_dir = _copy(folder, tmp_path)
    resumed = _fit(_setup(model_seed=5), resumed_dir, epochs=4, resume=True, transform=Jitter(seed=8))
    reference = _fit(_setup(), tmp_path / "reference", epochs=4, transform=Jitter())
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(resumed.history[METRICS], reference.history[METRICS], check_exact=True)
    np.testing.assert_allclose(resumed.history["lr"], [0.1, 0.05, 0.025, 0.0125])
    assert resumed.best_epoch == reference.best_epoch
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    csv = pd.read_csv(resumed_dir / "history.csv")
    np.testing.assert_allclose(csv[METRICS].to_numpy(), reference.history[METRICS].to_numpy(), rtol=1e-12)


def test_resume_without_a_last_checkpoint_starts_a_new_run(tmp_path, capsys):
    state = _resume(_setup(), tmp_path / "new", verbose=True)
    assert state == checkpoints.Progress()
    assert capsys.readouterr().out == (f"resume=True but {tmp_path / 'new' / 'last.pt'} does not exist yet: "
                                       "starting a new run.\n")
    assert _resume(_setup(), tmp_path / "new") == checkpoints.Progress()
    assert capsys.readouterr().out == ""


def test_resume_with_another_optimizer_or_scheduler_setting_is_refused(two_epochs, tmp_path):
    folder, _, _ = two_epochs
    last = folder / "last.pt"
    s = _setup()
    layers = list(s["model"].children())
    s["optimizer"] = torch.optim.AdamW([{"params": layers[0].parameters()}, {"params": layers[3].parameters()}])
    s["scheduler"] = torch.optim.lr_scheduler.StepLR(s["optimizer"], step_size=1)
    with pytest.raises(ValueError) as info:
        _resume(s, folder, transform=Jitter())
    text = str(info.value)
    assert text.startswith(f"The optimizer state in {last} does not fit this optimizer (")
    assert text.endswith("Resume with the same optimizer type and parameter groups, or use resume=False.")
    sgd = _setup()  # same groups, another type: torch would load AdamW's state and fail in SGD.step
    sgd["optimizer"] = torch.optim.SGD(sgd["model"].parameters(), lr=0.1, momentum=0.9)
    sgd["scheduler"] = torch.optim.lr_scheduler.StepLR(sgd["optimizer"], step_size=1)
    with pytest.raises(ValueError) as info:
        _resume(sgd, folder, transform=Jitter())
    assert str(info.value) == (f"The optimizer state in {last} is from AdamW, not SGD. Resume with the same "
                               "optimizer type and parameter groups, or use resume=False.")
    with pytest.raises(ValueError) as info:
        _resume(_setup(scheduler=False), folder, transform=Jitter())
    assert str(info.value) == (f"{last} was saved with an LR scheduler; resume with the same scheduler setting "
                               "as the interrupted run.")
    copy = _copy(folder, tmp_path)
    ckpt = torch.load(copy / "last.pt", weights_only=True)
    ckpt["scheduler"] = None
    torch.save(ckpt, copy / "last.pt")
    with pytest.raises(ValueError, match=r"was saved without an LR scheduler; resume with the same scheduler"):
        _resume(_setup(), copy, transform=Jitter())
    with pytest.raises(ValueError) as info:
        _resume(_setup(), folder, transform=Jitter(), monitor="val_loss")
    assert str(info.value) == (f"{last} selected its best epoch by 'val_macro_f1', not 'val_loss'; resume with the "
                               "same monitor, or use resume=False.")


@pytest.mark.parametrize("change, what", [("loader", "loader"), ("transform", "transform")])
def test_resume_with_another_random_setup_is_refused(two_epochs, change, what):
    folder, _, _ = two_epochs
    s = _setup(shuffle=change != "loader")  # an unshuffled loader has no generator
    with pytest.raises(ValueError) as info:
        _resume(s, folder, transform=None if change == "transform" else Jitter())
    assert str(info.value) == (f"The checkpoint stored 1 random generator(s) for the {what} but the current {what} "
                               f"has 0: resume with the same loader/batch_transform setup "
                               "(e.g. make_loader(..., shuffle=True, seed=SEED)).")


# ---------------------------------------------------------------------------
# save_epoch and the best weights after a resume
# ---------------------------------------------------------------------------
def _row(epoch, score):
    return dict(zip(checkpoints.HISTORY_COLUMNS, [epoch, 0.1, 1.0, 0.5, 1.0, 0.5, score, 0.1, 0.1 * epoch]))


def _two_saved_epochs(folder, scaler):
    """Epoch 1 improves (best.pt written), epoch 2 does not; returns the weights after each epoch."""
    s = _setup(scheduler=False)
    state = checkpoints.Progress(rows=[_row(1, 0.6)], best_score=0.6, best_epoch=1)
    args = (s["model"], s["optimizer"], None, scaler, s["train"], None)
    checkpoints.save_epoch(folder, state, *args, epoch=0, monitor="val_macro_f1", improved=True)
    after_1 = {k: v.clone() for k, v in s["model"].state_dict().items()}
    with torch.no_grad():
        for p in s["model"].parameters():
            p.add_(1.0)
    state.rows.append(_row(2, 0.4))
    state.bad_epochs = 1
    checkpoints.save_epoch(folder, state, *args, epoch=1, monitor="val_macro_f1", improved=False)
    return after_1, {k: v.clone() for k, v in s["model"].state_dict().items()}


def test_save_epoch_writes_last_best_and_history(tmp_path):
    after_1, after_2 = _two_saved_epochs(tmp_path / "run", torch.amp.GradScaler("cuda", enabled=False))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt", "history.csv", "last.pt"]
    best, last = (torch.load(tmp_path / "run" / n, weights_only=True) for n in ("best.pt", "last.pt"))
    assert (best["epoch"], last["epoch"], last["best_epoch"], last["bad_epochs"]) == (1, 2, 1, 1)
    assert last["monitor"] == "val_macro_f1" and last["model_class"] == "Sequential" and last["scheduler"] is None
    assert all(torch.equal(best["model"][k], v) for k, v in after_1.items())
    assert all(torch.equal(last["model"][k], v) for k, v in after_2.items())
    csv = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(csv.columns) == list(checkpoints.HISTORY_COLUMNS) and csv["val_macro_f1"].tolist() == [0.6, 0.4]


def test_best_weights_after_resume_come_from_best_pt_or_last_pt(tmp_path):
    after_1, after_2 = _two_saved_epochs(tmp_path, torch.amp.GradScaler("cuda", enabled=False))
    s = _setup(scheduler=False)
    state = _resume(s, tmp_path)
    assert (state.start_epoch, state.best_epoch, state.bad_epochs, state.best_score) == (2, 1, 1, 0.6)
    assert all(torch.equal(state.best_state[k], v) for k, v in after_1.items())  # from best.pt
    assert all(torch.equal(s["model"].state_dict()[k], v) for k, v in after_2.items())  # from last.pt
    # last.pt's own epoch was the best: its weights, copied (training the model must not change them)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    ckpt["best_epoch"] = 2
    torch.save(ckpt, tmp_path / "last.pt")
    s = _setup(scheduler=False)
    state = _resume(s, tmp_path)
    assert all(torch.equal(state.best_state[k], v) for k, v in after_2.items())
    with torch.no_grad():
        s["model"][0].weight.add_(1.0)
    assert torch.equal(state.best_state["0.weight"], after_2["0.weight"])


@pytest.mark.parametrize("best_file", ["missing", "other epoch"])
def test_a_best_pt_that_does_not_match_last_pt_is_refused(tmp_path, best_file):
    _two_saved_epochs(tmp_path, torch.amp.GradScaler("cuda", enabled=False))
    if best_file == "missing":
        (tmp_path / "best.pt").unlink()
    else:
        shutil.copy(tmp_path / "last.pt", tmp_path / "best.pt")  # epoch 2, but last.pt says best epoch 1
    with pytest.raises(ValueError) as info:
        _resume(_setup(scheduler=False), tmp_path)
    assert str(info.value) == (f"{tmp_path / 'best.pt'} does not hold the best epoch (1) recorded in last.pt: "
                               "the checkpoint folder was changed by hand. Use resume=False to start over.")


def test_an_enabled_grad_scaler_is_saved_and_restored(tmp_path):
    # GradScaler on "cpu" keeps a real state without a GPU; fit uses the CUDA one only under AMP on CUDA
    _two_saved_epochs(tmp_path, torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=7))
    scaler = torch.amp.GradScaler("cpu")  # defaults: scale 2 ** 16, growth_interval 2000
    _resume(_setup(scheduler=False), tmp_path, scaler=scaler)
    assert scaler.get_scale() == 1024.0 and scaler.get_growth_interval() == 7
    # a disabled scaler's state is empty: nothing is loaded into the one of the resumed run
    _two_saved_epochs(tmp_path / "off", torch.amp.GradScaler("cuda", enabled=False))
    scaler = torch.amp.GradScaler("cpu")
    _resume(_setup(scheduler=False), tmp_path / "off", scaler=scaler)
    assert scaler.get_scale() == 2.0 ** 16 and scaler.get_growth_interval() == 2000


def test_a_checkpoint_without_the_optimizer_class_still_resumes(two_epochs, tmp_path):
    # checkpoints written before optimizer_class was stored: the type cannot be compared, the state is loaded
    copy = _copy(two_epochs[0], tmp_path)
    ckpt = torch.load(copy / "last.pt", weights_only=True)
    assert ckpt.pop("optimizer_class") == "AdamW"
    torch.save(ckpt, copy / "last.pt")
    s = _setup()
    assert _resume(s, copy, transform=Jitter()).start_epoch == 2
    assert s["optimizer"].state_dict()["state"][0]["step"] == 8  # 2 epochs x 4 batches of 8 out of 32


def test_save_epoch_and_resume_keep_every_random_state_and_the_stop_flag(tmp_path):
    s = _setup(scheduler=False)
    row = dict(reversed(list(_row(1, 0.6).items())))  # keys in another order: the file keeps HISTORY_COLUMNS
    state = checkpoints.Progress(rows=[row], best_score=0.6, best_epoch=1, stopped_early=True)
    random.seed(5)
    random.random()
    np.random.seed(5)
    np.random.random(3)
    np.random.normal()  # the legacy normal() caches its second value: pos 10, has_gauss 1, cached 0.84
    torch.manual_seed(5)
    expected = (random.getstate(), np.random.get_state(), torch.get_rng_state())

    def flip(x):  # a batch transform without a generator of its own
        return x.flip(-1)

    folder = tmp_path / "a" / "run"  # missing parents are created
    checkpoints.save_epoch(folder, state, s["model"], s["optimizer"], None, torch.amp.GradScaler("cuda", enabled=False),
                           s["train"], flip, epoch=0, monitor="val_loss", improved=True)
    assert list(pd.read_csv(folder / "history.csv").columns) == list(checkpoints.HISTORY_COLUMNS)
    last = torch.load(folder / "last.pt", weights_only=True)
    assert last["format"] == 1 and last["optimizer_class"] == "AdamW" and last["rng"]["transform"] == []
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    back = _resume(_setup(scheduler=False), folder, transform=flip, monitor="val_loss")
    assert back.stopped_early is True and back.start_epoch == 1
    assert random.getstate() == expected[0]
    got, want = np.random.get_state(), expected[1]
    assert got[0] == want[0] and np.array_equal(got[1], want[1]) and got[2:] == want[2:]
    assert torch.equal(torch.get_rng_state(), expected[2])
