"""Tests for course_utils.training.transfer: builder, adapter, weights (file, cache, offline), modes, reports."""
import threading
import urllib.error

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from course_utils.core import pretrained
from course_utils.training import transfer
from course_utils.training.transfer import (
    PretrainedWeightsWarning,
    WaferInputAdapter,
    build_transfer_model,
    count_parameters,
    param_groups,
    parameter_report,
)

REAL_HOST_REACHABLE = pretrained.host_reachable  # saved before the autouse fixture replaces it


@pytest.fixture(autouse=True)
def empty_torch_home(tmp_path, monkeypatch):
    """Every test sees an empty torch hub cache and no network: nothing is downloaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(pretrained, "host_reachable", lambda url, timeout=2.0: False)
    return tmp_path / "torch_home"


def _imagenet_state_dict(name, seed=0):
    torch.manual_seed(seed)
    return torchvision.models.get_model(name, weights=None).state_dict()


# --------------------------------------------------------------------------- builder
def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model name 'resnet19'.*efficientnet_b0.*mobilenet_v3_small"):
        build_transfer_model("resnet19", num_classes=9, weights=None)


@pytest.mark.parametrize("name", transfer.SUPPORTED_MODELS)
def test_every_supported_model_gets_a_new_head(name):
    # meta device: the architecture without memory or initialisation cost (vgg16 has 138M parameters)
    with torch.device("meta"):
        model = build_transfer_model(name, num_classes=9, weights=None)
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    head = model.head
    assert isinstance(head, nn.Linear) and head.out_features == 9
    assert [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1] == "backbone." + model.head_name
    # independent count: torchvision's ImageNet parameter count, minus the 1000-class head, plus the 9-class one
    expected = meta["num_params"] - (head.in_features * 1000 + 1000) + (head.in_features * 9 + 9)
    assert count_parameters(model)["total"] == expected


def test_resnet18_forward_shapes_and_default_input_size():
    model = build_transfer_model("resnet18", num_classes=9, weights=None, input_size=32)
    assert model.weights_source == "random"
    assert model.adapter.normalize is False  # no pretrained weights -> no ImageNet normalisation
    out = model(torch.rand(4, 3, 64, 64))
    assert out.shape == (4, 9) and out.dtype == torch.float32
    with torch.device("meta"):
        assert build_transfer_model("efficientnet_b3", num_classes=9, weights=None).adapter.input_size == 300


def test_input_size_below_model_minimum_is_rejected():
    with torch.device("meta"), pytest.raises(ValueError, match=r"input_size must be an integer >= 32 for vgg16"):
        build_transfer_model("vgg16", num_classes=9, weights=None, input_size=16)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="mode='frozen' is not one of"):
        build_transfer_model("resnet18", num_classes=9, weights=None, mode="frozen")
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        build_transfer_model("resnet18", weights=None, num_classes=1)
    with pytest.raises(ValueError, match="in_channels must be 1"):
        build_transfer_model("resnet18", num_classes=9, weights=None, in_channels=9)
    with pytest.raises(ValueError, match=r"weights='IMAGENET1K_V9' is not a weights name of resnet18.*IMAGENET1K_V1"):
        build_transfer_model("resnet18", num_classes=9, weights="IMAGENET1K_V9")


def test_builds_are_reproducible_with_a_seed():
    torch.manual_seed(3)
    a = build_transfer_model("mobilenet_v3_small", num_classes=9, weights=None, input_size=32)
    torch.manual_seed(3)
    b = build_transfer_model("mobilenet_v3_small", num_classes=9, weights=None, input_size=32)
    x = torch.rand(2, 3, 32, 32)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))


# --------------------------------------------------------------------------- adapter
def test_adapter_repeats_single_channel_resizes_and_normalises():
    x = torch.rand(2, 1, 8, 8)
    out = WaferInputAdapter(in_channels=1, input_size=16, normalize=True)(x)
    assert out.shape == (2, 3, 16, 16)
    up = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    for c in range(3):
        torch.testing.assert_close(out[:, c], (up[:, 0] - mean[c]) / std[c])


def test_adapter_nearest_keeps_die_states_and_checks_channels():
    onehot = torch.zeros(1, 3, 4, 4)
    onehot[:, 2] = 1.0
    out = WaferInputAdapter(in_channels=3, input_size=8, interpolation="nearest")(onehot)
    assert set(out.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 3, H, W\).*got \(1, 1, 4, 4\)"):
        WaferInputAdapter(in_channels=3)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="in_channels must be 1"):
        WaferInputAdapter(in_channels=2)


def test_single_channel_model_end_to_end():
    model = build_transfer_model("mobilenet_v3_small", num_classes=9, weights=None, in_channels=1, input_size=32)
    assert model(torch.rand(2, 1, 64, 64)).shape == (2, 9)


# --------------------------------------------------------------------------- modes and optimiser groups
def test_feature_extraction_trains_only_the_head():
    model = build_transfer_model("resnet18", num_classes=9, weights=None, input_size=32, mode="feature_extraction")
    head = model.head
    counts = count_parameters(model)
    assert counts["trainable"] == head.weight.numel() + head.bias.numel() == 512 * 9 + 9
    assert counts["frozen"] == counts["total"] - counts["trainable"]
    model.train()
    assert not model.backbone.bn1.training  # frozen BatchNorm keeps its statistics
    running = model.backbone.bn1.running_mean.clone()
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    assert torch.equal(model.backbone.bn1.running_mean, running)
    assert head.weight.grad is not None and model.backbone.conv1.weight.grad is None
    groups = param_groups(model, lr=1e-3)
    assert [g["name"] for g in groups] == ["head"]


def test_fine_tuning_param_groups_cover_every_parameter_once():
    model = build_transfer_model("resnet18", num_classes=9, weights=None, input_size=32, mode="feature_extraction")
    model.set_mode("fine_tuning")
    assert model.backbone.bn1.training
    groups = param_groups(model, lr=1e-3, backbone_lr=1e-4, weight_decay=0.01)
    assert {g["name"]: g["lr"] for g in groups} == {"head": 1e-3, "backbone": 1e-4}
    assert all(g["weight_decay"] == 0.01 for g in groups)
    assert "weight_decay" not in param_groups(model, lr=1e-3)[0]  # None: the optimiser's own setting
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    optimizer = torch.optim.SGD(groups, lr=0.5)
    before = model.backbone.conv1.weight.detach().clone()
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, model.backbone.conv1.weight)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-4]


def test_nothing_trainable_is_a_clear_error():
    model = build_transfer_model("resnet18", num_classes=9, weights=None, input_size=32, mode="feature_extraction")
    model.head.requires_grad_(False)
    with pytest.raises(ValueError, match="resnet18 has no trainable parameters"):
        param_groups(model, lr=1e-3)
    with pytest.raises(TypeError, match="expects a TransferModel"):
        param_groups(nn.Linear(2, 2), lr=1e-3)
    with pytest.raises(ValueError, match="backbone_lr must be a positive number"):
        param_groups(build_transfer_model("resnet18", num_classes=9, weights=None, input_size=32), lr=1e-3, backbone_lr=0)


# --------------------------------------------------------------------------- weights
def test_local_imagenet_file_loads_backbone_and_keeps_new_head(tmp_path):
    state = _imagenet_state_dict("resnet18", seed=1)
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(state, path)
    model = build_transfer_model("resnet18", num_classes=9, weights=str(path), input_size=32)
    assert model.weights_source == f"file:{path}"
    assert model.adapter.normalize is True  # pretrained -> ImageNet normalisation
    torch.testing.assert_close(model.backbone.conv1.weight, state["conv1.weight"])
    torch.testing.assert_close(model.backbone.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert model.head.weight.shape == (9, 512)  # the 1000-class head of the file is not used


def test_saved_transfer_model_round_trips_including_head(tmp_path):
    model = build_transfer_model("mobilenet_v3_small", num_classes=9, weights=None, input_size=32)
    path = tmp_path / "finetuned.pt"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)  # the layout of engine.fit's checkpoints
    again = build_transfer_model("mobilenet_v3_small", num_classes=9, weights=path, input_size=32)
    x = torch.rand(2, 3, 32, 32)
    model.eval(), again.eval()
    again.adapter.normalize = False  # same preprocessing as the saved model, so outputs must match exactly
    torch.testing.assert_close(again(x), model(x))


def test_weights_file_of_another_architecture_names_file_and_model(tmp_path):
    path = tmp_path / "mobilenet.pth"
    torch.save(_imagenet_state_dict("mobilenet_v3_small"), path)
    with pytest.raises(ValueError, match=r"weights file .*mobilenet\.pth does not fit resnet18.*another architecture"):
        build_transfer_model("resnet18", num_classes=9, weights=path, input_size=32)


def test_missing_or_unreadable_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights file .*nope\.pth does not exist"):
        build_transfer_model("resnet18", num_classes=9, weights=str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"weights file .*bad\.pth cannot be read as a PyTorch state dict"):
        build_transfer_model("resnet18", num_classes=9, weights=bad)


def test_offline_without_cache_falls_back_to_random_with_one_line_warning():
    with pytest.warns(PretrainedWeightsWarning, match=r"resnet18: ImageNet weights .* unavailable .*random initialisation") as record:
        model = build_transfer_model("resnet18", num_classes=9, weights="DEFAULT", input_size=32)
    assert "\n" not in str(record[0].message)
    assert record[0].filename == __file__  # reported at the caller's line, not inside course_utils
    assert model.weights_source == "random (pretrained weights unavailable)"
    assert model.adapter.normalize is False
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 9)


def test_failed_download_falls_back(monkeypatch):
    monkeypatch.setattr(pretrained, "host_reachable", lambda url, timeout=2.0: True)

    def no_network(self, *args, **kwargs):
        raise urllib.error.URLError("simulated: no route to host")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_network)
    with pytest.warns(PretrainedWeightsWarning, match="download of .* failed .*URLError"):
        model = build_transfer_model("mobilenet_v3_small", num_classes=9, weights="IMAGENET1K_V1", input_size=32)
    assert model.weights_source.startswith("random")


def test_allow_download_false_never_touches_the_network(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("network must not be used")

    monkeypatch.setattr(pretrained, "host_reachable", fail)
    with pytest.warns(PretrainedWeightsWarning, match="allow_download=False"):
        build_transfer_model("resnet18", num_classes=9, weights="DEFAULT", input_size=32, allow_download=False)


def test_imagenet_weights_are_read_from_the_torch_hub_cache(empty_torch_home):
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cached = pretrained.cached_weights_path(weights)
    assert cached.parent == empty_torch_home / "hub" / "checkpoints"
    cached.parent.mkdir(parents=True)
    state = _imagenet_state_dict("resnet18", seed=2)
    torch.save(state, cached)
    model = build_transfer_model("resnet18", num_classes=9, weights="DEFAULT", input_size=32, allow_download=False)
    assert model.weights_source == "imagenet:ResNet18_Weights.IMAGENET1K_V1"
    torch.testing.assert_close(model.backbone.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_corrupt_cached_file_names_the_file_to_delete(empty_torch_home):
    cached = pretrained.cached_weights_path(torchvision.models.ResNet18_Weights.DEFAULT)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    with pytest.raises(ValueError, match=r"cached weights file .*resnet18-f37072fd\.pth cannot be loaded.*delete it"):
        build_transfer_model("resnet18", num_classes=9, weights="DEFAULT", input_size=32)


def test_host_reachable_probe(monkeypatch):
    calls = []

    class Conn:
        def close(self):
            pass

    def refuse(address, timeout):
        calls.append(address)
        raise OSError("simulated: name or service not known")

    monkeypatch.setattr(pretrained.urllib.request, "getproxies", lambda: {})
    monkeypatch.setattr(pretrained.socket, "create_connection", refuse)
    assert REAL_HOST_REACHABLE("https://download.pytorch.org/models/x.pth", timeout=0.1) is False
    assert calls == [("download.pytorch.org", 443)]
    monkeypatch.setattr(pretrained.socket, "create_connection", lambda address, timeout: calls.append(address) or Conn())
    monkeypatch.setattr(pretrained.urllib.request, "getproxies", lambda: {"https": "http://proxy.example:3128"})
    assert REAL_HOST_REACHABLE("https://download.pytorch.org/models/x.pth", timeout=0.1) is True
    assert calls[-1] == ("proxy.example", 3128)  # behind a proxy, the proxy is what must answer


def test_host_reachable_does_not_wait_for_a_stuck_lookup(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(pretrained.urllib.request, "getproxies", lambda: {})

    def stuck(address, timeout):  # a DNS lookup that never answers
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(pretrained.socket, "create_connection", stuck)
    try:
        assert REAL_HOST_REACHABLE("https://download.pytorch.org/x.pth", timeout=0.05) is False
    finally:
        release.set()


# --------------------------------------------------------------------------- report
def test_parameter_report_counts_and_time_per_epoch():
    frozen = build_transfer_model("resnet18", num_classes=9, weights=None, input_size=32, mode="feature_extraction")
    small = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(9))
    small(torch.zeros(1, 3, 8, 8))  # materialise the lazy layer
    history = pd.DataFrame({"epoch": [1, 2], "time_s": [1.5, 2.5]})
    table = parameter_report({"resnet18": frozen, "cnn": small}, histories={"resnet18": history})
    assert list(table.index) == ["resnet18", "cnn"]
    row = table.loc["resnet18"]
    assert row["trainable_params"] == 512 * 9 + 9
    assert row["total_params"] == sum(p.numel() for p in frozen.parameters())
    assert row["frozen_params"] == row["total_params"] - row["trainable_params"]
    assert row["time_per_epoch_s"] == pytest.approx(2.0) and row["epochs"] == 2
    assert pd.isna(table.loc["cnn", "time_per_epoch_s"])
    assert table.loc["cnn", "trainable_pct"] == pytest.approx(100.0)
    assert table.loc["cnn", "size_mb"] == pytest.approx(table.loc["cnn", "total_params"] * 4 / 2**20)
    with pytest.raises(ValueError, match="needs a 'time_s' column"):
        parameter_report({"cnn": small}, histories={"cnn": pd.DataFrame({"epoch": [1]})})


def test_feature_extraction_with_engine_fit_changes_only_the_head():
    from course_utils.training import engine
    from course_utils.classification.data import WaferDataset, make_loader

    torch.manual_seed(0)
    maps = torch.randint(0, 3, (18, 16, 16), dtype=torch.uint8)
    labels = torch.arange(18) % 9
    loader = make_loader(WaferDataset(maps, labels), batch_size=6, shuffle=True, seed=0)
    model = build_transfer_model("mobilenet_v3_small", num_classes=9, weights=None, input_size=32, mode="feature_extraction")
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items() if not k.startswith(model.head_name)}
    head_before = model.head.weight.detach().clone()
    optimizer = torch.optim.AdamW(param_groups(model, lr=1e-2))
    result = engine.fit(model, loader, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1,
                        device="cpu", verbose=False, monitor="train_loss")
    after = result.model.backbone.state_dict()
    assert all(torch.equal(after[k], v) for k, v in backbone_before.items())  # weights and BN statistics frozen
    assert not torch.equal(result.model.head.weight, head_before)
    table = parameter_report({"mobilenet": result.model}, histories={"mobilenet": result})
    assert table.loc["mobilenet", "epochs"] == 1
    assert table.loc["mobilenet", "time_per_epoch_s"] == pytest.approx(result.history["time_s"].mean())
