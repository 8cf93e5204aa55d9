"""course_utils.training.lightweight: ONNX variants, quantization parameters, pruning, latency, errors."""
import builtins
import statistics

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.training import lightweight as lw

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(64, 5)).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("lw")
    model = small_cnn()
    x = torch.rand(48, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    fp32 = lw.export_onnx_model(model, x[:1], out / "fp32.onnx")
    with torch.no_grad():
        reference = model(x).numpy()
    return {"out": out, "model": model, "x": x.numpy(), "reference": reference, "fp32": fp32}


def _outputs(path, x):
    return lw.onnx_predict(lw.onnx_session(path), x)


def test_onnx_variants_stay_close_to_fp32_and_int8_is_smaller(exported):
    out, x, ref, fp32 = exported["out"], exported["x"], exported["reference"], exported["fp32"]
    scale = np.abs(ref).max()
    # FP32 ONNX: another order of additions only
    assert np.abs(_outputs(fp32, x) - ref).max() <= 1e-5 * scale
    # FP16: about 3 significant digits (10-bit mantissa), accumulated over 3 layers
    fp16 = lw.to_fp16(fp32, out / "fp16.onnx")
    assert np.abs(_outputs(fp16, x) - ref).max() <= 1e-2 * scale
    # INT8: 8 bits per weight (and per activation for static): a few per cent of the output range
    dyn = lw.quantize_dynamic_int8(fp32, out / "dyn.onnx")
    sta = lw.quantize_static_int8(fp32, out / "sta.onnx", x[:32], batch_size=8)
    for path in (dyn, sta):
        diff = np.abs(_outputs(path, x) - ref).max()
        assert 0 < diff <= 0.05 * scale, (path.name, diff, scale)
        assert lw.file_mb(path) < 0.5 * lw.file_mb(fp32)
    assert lw.file_mb(fp16) < 0.7 * lw.file_mb(fp32)


def test_static_quantization_writes_qdq_pairs(exported):
    import onnx

    path = lw.quantize_static_int8(exported["fp32"], exported["out"] / "qdq.onnx", exported["x"][:16])
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops


def test_quantization_params_by_hand_and_against_torch_and_ort():
    from onnxruntime.quantization.quant_utils import compute_scale_zp

    x = np.array([-1.0, 0.6, 2.0])
    scale, zp = lw.quantization_params(x, dtype="uint8")
    # by hand: range [-1, 2] over 255 steps; zero point = round(0 - (-1) / (3/255)) = 85
    assert scale == pytest.approx(3 / 255) and zp == 85
    q = np.clip(np.round(x / scale) + zp, 0, 255)
    assert q.tolist() == [0.0, 136.0, 255.0]  # 0.6 / (3/255) = 51 steps above the zero point
    observer = torch.ao.quantization.MinMaxObserver(dtype=torch.quint8)
    observer(torch.tensor(x, dtype=torch.float32))
    t_scale, t_zp = observer.calculate_qparams()
    assert scale == pytest.approx(float(t_scale), rel=1e-6) and zp == int(t_zp)
    o_zp, o_scale = compute_scale_zp(np.float32(-1.0), np.float32(2.0), np.uint8(0), np.uint8(255))
    assert scale == pytest.approx(float(o_scale), rel=1e-6) and zp == int(o_zp)
    s_scale, s_zp = lw.quantization_params([-0.3, 1.27], dtype="int8", symmetric=True)
    assert s_scale == pytest.approx(0.01) and s_zp == 0
    # an all-positive range still holds 0 exactly: lo = 0 -> zero point at qmin
    assert lw.quantization_params([0.5, 1.0], dtype="int8") == (pytest.approx(1 / 255), -128)


def test_unstructured_pruning_sparsity_is_exact():
    model = small_cnn()
    total = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    lw.prune_model(model, amount=0.5)
    assert lw.sparsity(model) == pytest.approx(round(0.5 * total) / total, abs=0)


def test_structured_pruning_zeroes_whole_output_channels_but_not_the_classifier():
    model = lw.prune_model(small_cnn(), amount=0.25, structured=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        zero_rows = (conv.weight.detach().flatten(1).abs().sum(1) == 0).sum().item()
        assert zero_rows == round(0.25 * conv.out_channels)
    assert (model[-1].weight != 0).all()


def test_finetune_keeps_the_zeros_and_makes_pruning_permanent():
    model = lw.prune_model(small_cnn(), amount=0.6)
    before = lw.sparsity(model)
    x = torch.rand(16, 3, 16, 16)
    y = torch.arange(16) % 5
    lw.finetune_pruned(model, [(x, y)] * 3, epochs=2, lr=1e-2)
    assert not any(hasattr(m, "weight_orig") for m in model.modules())
    assert lw.sparsity(model) == pytest.approx(before, abs=0)


def test_time_per_call_returns_the_median_of_the_timed_calls():
    calls = []
    t = lw.time_per_call(lambda: calls.append(1), warmup=3, repeats=7)
    assert len(calls) == 10 and t["repeats"] == 7 and len(t["times_ms"]) == 7
    assert t["median_ms"] == statistics.median(t["times_ms"]) and t["min_ms"] == min(t["times_ms"])
    with pytest.raises(ValueError, match="repeats"):
        lw.time_per_call(lambda: None, repeats=0)


def test_torch_ao_quantizes_linear_only_and_refuses_without_one():
    model = small_cnn()
    q = lw.torch_dynamic_int8(model)
    assert type(q[-1]).__name__ == "Linear" and "quantized" in type(q[-1]).__module__
    assert isinstance(q[0], nn.Conv2d)
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        assert (q(x) - ref).abs().max() <= 0.05 * ref.abs().max()
    with pytest.raises(ValueError, match="no nn.Linear"):
        lw.torch_dynamic_int8(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_a_model_ort_cannot_quantize_says_why(exported, tmp_path):
    fp16 = lw.to_fp16(exported["fp32"], tmp_path / "fp16.onnx")
    with pytest.raises(ValueError, match="float16"):
        lw.quantize_dynamic_int8(fp16, tmp_path / "x.onnx")
    dyn = lw.quantize_dynamic_int8(exported["fp32"], tmp_path / "dyn.onnx")
    with pytest.raises(ValueError, match="already quantized"):
        lw.quantize_static_int8(dyn, tmp_path / "y.onnx", exported["x"][:8])
    plain = lw.export_onnx_model(nn.Sequential(nn.ReLU(), nn.Flatten()), torch.rand(1, 3, 4, 4), tmp_path / "relu.onnx")
    with pytest.raises(ValueError, match="none of"):
        lw.quantize_dynamic_int8(plain, tmp_path / "z.onnx")


def test_calibration_of_the_wrong_shape_is_refused(exported, tmp_path):
    with pytest.raises(ValueError, match=r"calibration has shape \(8, 1, 16, 16\)"):
        lw.quantize_static_int8(exported["fp32"], tmp_path / "s.onnx", exported["x"][:8, :1])
    with pytest.raises(ValueError, match="calibration has shape"):
        lw.quantize_static_int8(exported["fp32"], tmp_path / "s.onnx", exported["x"][0])


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"\.\[yolo\]"):
        lw.onnx_session("any.onnx")


def test_measure_variants_table(exported, tmp_path):
    from sklearn.metrics import f1_score

    x = exported["x"]
    y = exported["reference"].argmax(1)
    y[:5] = (y[:5] + 1) % 5  # a few wrong labels so that macro-F1 < 1
    pruned = lw.finetune_pruned(lw.prune_model(small_cnn(), amount=0.5), [], epochs=0)
    variants = lw.classifier_variants(exported["model"], x[:32], tmp_path, pruned={"pruned + fine-tune": pruned})
    assert list(variants)[:2] == ["FP32 (PyTorch)", "FP32 (ONNX)"] and "INT8 dynamic Linear (torch.ao)" in variants
    table = lw.measure_variants(variants, x, y, repeats=3, warmup=1)
    assert list(table.index) == list(variants)
    first = table.iloc[0]
    assert first["size vs FP32"] == 1 and first["speed-up vs FP32"] == 1 and first["Δ macro-F1"] == 0
    assert first["macro-F1"] == pytest.approx(f1_score(y, exported["reference"].argmax(1), average="macro"))
    assert table.loc["FP32 (ONNX)", "agreement"] == 1.0
    assert table.loc["INT8 static QDQ (ORT)", "file (MB)"] < table.loc["FP32 (ONNX)", "file (MB)"]
    assert table.loc["pruned + fine-tune", "gzip (MB)"] < table.loc["FP32 (PyTorch)", "gzip (MB)"]
    assert (table["latency median (ms)"] > 0).all() and "3 calls" in table.attrs["note"]
    with pytest.raises(ValueError, match="must agree"):
        lw.measure_variants(variants, x, y[:-1])


def test_a_missing_model_file_is_named(tmp_path):
    from course_utils.detection import yolo_export

    with pytest.raises(FileNotFoundError, match=r"nothing\.onnx does not exist; write it first"):
        lw.onnx_session(tmp_path / "nothing.onnx")
    with pytest.raises(FileNotFoundError, match=r"yolo_export\.export_onnx\(model\) for YOLO"):
        yolo_export.OnnxDetector(tmp_path / "nothing.onnx", device="cpu")
