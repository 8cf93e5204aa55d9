"""Tests of course_utils.training.fit_checks: every argument check of fit, each message naming the argument and
the fix. The memory-format rule (use_channels_last) is tested in test_memory_format.py."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.training import engine, fit_checks


def _valid(**overrides):
    """A valid set of fit arguments (tiny linear model), with some replaced."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = dict(model=model, optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(), epochs=2, monitor="val_macro_f1",
                grad_clip=None, early_stopping=None, batch_transform=None, scheduler=None, resume=False,
                checkpoint_dir=None)
    args.update(overrides)
    return args


def _message(error, **overrides):
    with pytest.raises(error) as info:
        fit_checks.check_fit_arguments(**_valid(**overrides))
    return str(info.value)


def test_valid_arguments_pass_including_every_monitor_and_limits():
    assert fit_checks.check_fit_arguments(**_valid()) is None
    for monitor in fit_checks.MONITOR_CHOICES:
        assert fit_checks.check_fit_arguments(**_valid(monitor=monitor)) is None
    # the smallest allowed values, NumPy numbers, a callable transform, resume with a folder
    assert fit_checks.check_fit_arguments(**_valid(epochs=np.int64(1), grad_clip=np.float32(0.5), early_stopping=1,
                                                   batch_transform=lambda x: x, resume=True,
                                                   checkpoint_dir="ckpt")) is None


def test_model_and_optimizer_of_the_wrong_kind_are_named():
    assert _message(TypeError, model={"weight": 1}) == "model must be a torch.nn.Module, got dict."
    text = _message(TypeError, optimizer=[torch.zeros(1)])
    assert text.startswith("optimizer must be a torch.optim.Optimizer, e.g. torch.optim.AdamW(model.parameters(), ")
    assert text.endswith("got list.")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        fit_checks.check_module("WaferCNN")


@pytest.mark.parametrize("loss_fn", ["cross_entropy", None])
def test_loss_fn_must_be_callable(loss_fn):
    text = _message(TypeError, loss_fn=loss_fn)
    assert text == ("loss_fn must be callable (logits, labels) -> loss, e.g. nn.CrossEntropyLoss(); "
                    f"got {loss_fn!r}.")


@pytest.mark.parametrize("epochs", [0, -1, 2.0, True, "3", None])
def test_epochs_must_be_a_positive_integer(epochs):
    assert _message(ValueError, epochs=epochs) == f"epochs must be a positive integer, got {epochs!r}."


@pytest.mark.parametrize("grad_clip", [0, -1.0, float("nan"), "1.0", True])
def test_grad_clip_must_be_a_positive_norm(grad_clip):
    # True is a bool, not a norm: before the fix it passed as isinstance(True, int) and clipped at 1.0
    assert _message(ValueError, grad_clip=grad_clip) == (
        f"grad_clip must be None or a positive max gradient norm such as 1.0, got {grad_clip!r}.")


@pytest.mark.parametrize("patience", [0, -2, 1.5, True])
def test_early_stopping_must_be_a_positive_patience(patience):
    assert _message(ValueError, early_stopping=patience) == (
        f"early_stopping must be None or a patience in epochs (positive integer), got {patience!r}.")


def test_batch_transform_and_scheduler_of_the_wrong_kind():
    assert _message(TypeError, batch_transform="flip") == "batch_transform must be callable x -> x, got 'flip'."
    assert _message(TypeError, scheduler="cosine") == (
        "scheduler must be a torch.optim.lr_scheduler object, got str.")


def test_scheduler_built_for_another_optimizer_is_refused():
    other = torch.optim.SGD(nn.Linear(4, 3).parameters(), lr=0.1)
    step = torch.optim.lr_scheduler.StepLR(other, step_size=1)
    assert _message(ValueError, scheduler=step) == (
        "scheduler was built for another optimizer; build it from the optimizer passed to fit.")
    args = _valid()
    own = torch.optim.lr_scheduler.StepLR(args["optimizer"], step_size=1)
    assert fit_checks.check_fit_arguments(**{**args, "scheduler": own}) is None


@pytest.mark.parametrize("monitor, mode, wanted, verb", [("val_loss", "max", "min", "minimised"),
                                                        ("train_loss", "max", "min", "minimised"),
                                                        ("val_acc", "min", "max", "maximised")])
def test_plateau_mode_must_follow_the_monitor(monitor, mode, wanted, verb):
    args = _valid(monitor=monitor)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(args["optimizer"], mode=mode)
    with pytest.raises(ValueError) as info:
        fit_checks.check_fit_arguments(**{**args, "scheduler": plateau})
    assert str(info.value) == (f"ReduceLROnPlateau(mode={mode!r}) is stepped with {monitor}, which should be "
                               f"{verb}: use mode={wanted!r}.")
    right = torch.optim.lr_scheduler.ReduceLROnPlateau(args["optimizer"], mode=wanted)
    assert fit_checks.check_fit_arguments(**{**args, "scheduler": right}) is None


def test_check_loader_none_empty_and_without_length():
    with pytest.raises(ValueError) as info:
        fit_checks.check_loader(None, "val_loader")
    assert str(info.value) == ("val_loader is None; pass a DataLoader, e.g. "
                               "data.make_loader(dataset, batch_size=128).")
    # 3 samples, batch_size=4, drop_last=True: 0 batches
    empty = torch.utils.data.DataLoader(torch.zeros(3, 2), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=r"^train_loader is empty \(0 batches\): check the split.*drop_last=True"):
        fit_checks.check_loader(empty, "train_loader")
    assert fit_checks.check_loader(iter([(torch.zeros(1, 4), torch.zeros(1).long())]), "train_loader") is None


def test_a_loader_without_length_that_yields_nothing_fails_in_fit():
    # check_loader cannot count an iterator's batches; fit notices when the first epoch yields none
    args = _valid()
    with pytest.raises(ValueError, match=r"^train_loader yielded no batches; check the dataset and batch_size"):
        engine.fit(args["model"], iter([]), [(torch.zeros(2, 4), torch.tensor([0, 1]))], loss_fn=args["loss_fn"],
                   optimizer=args["optimizer"], epochs=1, device="cpu", verbose=False)
