"""fit's memory-format rule (channels-last on CPU and CUDA for convolution models) and the CPU allocator setting."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.training import engine, fit_checks, models
from course_utils.classification import data


def _loaders(seed=0, n=96, size=16):
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, 3, (n, size, size), dtype=np.uint8)
    labels = np.arange(n) % 9
    maps[labels == 0, 5:10, 5:10] = 2
    return (data.make_loader(data.WaferDataset(maps, labels), 32, shuffle=True, seed=1),
            data.make_loader(data.WaferDataset(maps[: n // 2], labels[: n // 2]), 64))


def _fit(channels_last):
    torch.manual_seed(0)
    model = models.WaferCNN(widths=(4, 8), dropout=0.0)
    train, val = _loaders()
    result = engine.fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), epochs=2, device="cpu",
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                        channels_last=channels_last, verbose=False)
    return result


def test_the_rule_takes_channels_last_for_convolutions_on_cpu_and_cuda_only():
    cnn, mlp = models.WaferCNN(widths=(4, 8)), nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    assert fit_checks.use_channels_last(cnn, torch.device("cpu")) is True
    assert fit_checks.use_channels_last(cnn, torch.device("cuda")) is True   # a decision, no GPU needed
    assert fit_checks.use_channels_last(cnn, torch.device("mps")) is False
    assert fit_checks.use_channels_last(mlp, torch.device("cpu")) is False
    assert fit_checks.use_channels_last(cnn, torch.device("cpu"), False) is False
    assert fit_checks.use_channels_last(mlp, torch.device("cpu"), True) is True
    with pytest.raises(ValueError, match="channels_last='yes' must be True, False or 'auto'"):
        fit_checks.use_channels_last(cnn, torch.device("cpu"), "yes")


def test_fit_trains_in_channels_last_and_matches_the_contiguous_run():
    auto, plain = _fit("auto"), _fit(False)
    conv = next(m for m in auto.model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    plain_conv = next(m for m in plain.model.modules() if isinstance(m, nn.Conv2d))
    assert plain_conv.weight.is_contiguous()
    # oneDNN's NHWC kernels sum in another order: the same run within float32 rounding, not bit for bit.
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    np.testing.assert_allclose(auto.history[cols].to_numpy(), plain.history[cols].to_numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(auto.model.state_dict().values(), plain.model.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-4, atol=1e-5)


def test_predict_in_either_format_gives_the_same_probabilities():
    torch.manual_seed(0)
    model = models.WaferCNN(widths=(4, 8))
    _, val = _loaders(seed=2)
    y1, p1, probs1 = engine.predict(model, val, "cpu", channels_last=False)
    y2, p2, probs2 = engine.predict(model, val, "cpu")  # auto: channels-last on CPU
    assert np.array_equal(y1, y2)
    np.testing.assert_allclose(probs1, probs2, rtol=1e-5, atol=1e-6)
    close = np.sort(probs1, axis=1)[:, -1] - np.sort(probs1, axis=1)[:, -2] > 1e-4  # no near tie in the argmax
    assert np.array_equal(p1[close], p2[close])


def test_keep_freed_memory_cuts_page_faults_of_a_training_step():
    import subprocess
    import sys

    # one process (one torch import): a warm-up step, 4 steps with glibc's defaults, then 4 with freed memory kept
    code = ("import resource, torch\n"
            "from course_utils.core import env\nfrom course_utils.training import models\n"
            "torch.set_num_threads(1); torch.manual_seed(0)\n"
            "m = models.WaferCNN(); x = torch.randn(64, 3, 64, 64)\n"
            "def faults():\n"
            "    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "    for _ in range(4): m(x).sum().backward()\n"
            "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0\n"
            "m(x).sum().backward(); default = faults()\n"
            "assert env.keep_freed_memory() and env.keep_freed_memory()\n"
            "print(default, faults())\n")
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's allocator: Linux only")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    faults = dict(zip(("default", "keep"), map(int, out)))
    assert faults["keep"] < 0.5 * faults["default"], faults
