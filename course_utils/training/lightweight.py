"""Model lightweighting, measured: FP32 vs FP16 vs INT8 (dynamic, static) vs pruning, for any classifier.

>>> from course_utils.training import lightweight as lw
>>> onnx_path = lw.export_onnx_model(model, x_calib[:1], out / "fp32.onnx")      # nn.Module -> ONNX (FP32)
>>> lw.to_fp16(onnx_path, out / "fp16.onnx")                                      # weights in float16
>>> lw.quantize_dynamic_int8(onnx_path, out / "int8_dynamic.onnx")               # int8 weights, activations at run time
>>> lw.quantize_static_int8(onnx_path, out / "int8_static.onnx", x_calib)         # int8 weights + calibrated activations (QDQ)
>>> variants = lw.classifier_variants(model, x_calib, out, pruned=pruned_model)
>>> lw.measure_variants(variants, x_test, y_test, repeats=20)                      # the table

Quantization maps a float ``x`` to an integer ``q = round(x / scale) + zero_point`` clipped to the
integer range, and back with ``x ~ (q - zero_point) * scale``. For a tensor whose values lie in
``[lo, hi]`` (the range always holds 0, so that 0 is exact): ``scale = (hi - lo) / (qmax - qmin)`` and
``zero_point = round(qmin - lo / scale)``; symmetric int8 uses ``scale = max|x| / 127`` and
``zero_point = 0`` (:func:`quantization_params`). *Dynamic* quantization stores int8 weights and
measures each activation's range at run time; *static* quantization fixes the activation ranges once,
from calibration batches (real inputs), and writes QuantizeLinear/DequantizeLinear pairs (QDQ format).

Everything ONNX needs ``onnx`` and ``onnxruntime`` (the ``[yolo]`` extra); without them the
functions raise ``ImportError`` naming the command. Latency is CPU wall time at batch 1 with a
stated number of threads: on a shared machine it is inflated by the other jobs.
"""
from __future__ import annotations

import contextlib
import copy
import gzip
import io
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_utils.core.checks import as_numpy, check_int, check_real
from course_utils.training import metrics

__all__ = ["ONNX_INSTALL_HINT", "require_module", "export_onnx_model", "onnx_session", "onnx_predict",
           "check_quantizable", "to_fp16", "quantize_dynamic_int8", "quantize_static_int8", "torch_dynamic_int8",
           "quantization_params", "prune_model", "sparsity", "finetune_pruned", "time_per_call", "Variant",
           "classifier_variants", "measure_variants", "file_mb"]

#: How to install what the ONNX side needs (it comes with the YOLO extra).
ONNX_INSTALL_HINT = 'pip install -e ".[yolo]"   (or: pip install onnx onnxruntime)'
#: Operators onnxruntime's quantizer turns into int8: a graph without any has nothing to quantize.
QUANTIZABLE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
_QUANTIZED_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger",
                  "DynamicQuantizeLinear", "QLinearMatMul")
_PRUNABLE = (nn.Conv2d, nn.Linear)


def require_module(name: str, hint: str = ONNX_INSTALL_HINT):
    """Import ``name`` or raise ``ImportError`` that names the install command ``hint``.

    Used by: course_utils.training.lightweight, course_utils.detection.yolo_export"""
    try:
        return __import__(name)
    except ImportError:
        raise ImportError(f"{name} is not installed; it comes with the YOLO extra: {hint}") from None


def file_mb(path) -> float:
    """Size of the file ``path`` in MB (10**6 bytes).

    Used by: course_utils.training.lightweight, course_utils.detection.yolo_lightweight"""
    return Path(path).stat().st_size / 1e6


def _gzip_mb(path) -> float:
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=6)) / 1e6


def export_onnx_model(model: nn.Module, example: torch.Tensor, path, *, opset: int = 17) -> Path:
    """Export a classifier to ONNX (FP32, CPU, input ``"input"`` and output ``"logits"``, batch size free).

    ``example`` is one input batch ``float32 (N, C, H, W)`` (its values do not matter, its shape does).
    Uses the TorchScript exporter (``dynamo=False``), which needs only ``onnx``. Returns ``path``.

    Taught in: 23_model_lightweighting"""
    require_module("onnx")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().float().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks in forward()
        torch.onnx.export(model, (torch.as_tensor(example, dtype=torch.float32).cpu(),), str(path), dynamo=False,
                          input_names=["input"], output_names=["logits"], opset_version=opset,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def onnx_session(path, *, threads: int | None = 1, providers: list[str] | None = None):
    """An onnxruntime session of the model file ``path`` with ``threads`` intra-op CPU threads (``None``:
    onnxruntime's default, all cores) on ``providers`` (default: the CPU;
    :func:`course_utils.detection.yolo_export.onnx_providers` picks CUDA when there is one).

    Used by: course_utils.training.lightweight, course_utils.detection.yolo_export, solutions/23_model_lightweighting_solutions"""
    ort = require_module("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {path} does not exist; write it first (export_onnx_model(model, ...) "
                                "for a classifier, yolo_export.export_onnx(model) for YOLO).")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = check_int(threads, "threads", minimum=1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def onnx_predict(session, x, *, batch_size: int = 256) -> np.ndarray:
    """Run an onnxruntime ``session`` on ``x`` ``float32 (N, C, H, W)`` in batches -> outputs ``float32 (N, K)``.

    Used by: course_utils.training.lightweight, solutions/23_model_lightweighting_solutions"""
    x = np.ascontiguousarray(as_numpy(x, "x", dtype=np.float32))
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + batch_size]})[0] for i in range(0, len(x), batch_size)])


def check_quantizable(path) -> None:
    """Raise ``ValueError`` saying why onnxruntime cannot quantize the ONNX file ``path`` to int8, if it cannot.

    Three reasons: the weights are float16 (the quantizer reads float32 weights: quantize the FP32
    file), the graph is already quantized (QuantizeLinear / integer operators), or it holds none of
    the operators int8 kernels exist for (Conv, MatMul, Gemm): nothing would change.

    Used by: course_utils.training.lightweight"""
    onnx = require_module("onnx")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {path} does not exist; write it with export_onnx_model(model, ...).")
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer):
        raise ValueError(f"{path} cannot be quantized: its weights are float16 and onnxruntime's quantizer reads float32 "
                         "weights; quantize the FP32 file instead.")
    if ops & set(_QUANTIZED_OPS):
        raise ValueError(f"{path} cannot be quantized: it is already quantized (it holds "
                         f"{sorted(ops & set(_QUANTIZED_OPS))}); quantize the FP32 file instead.")
    if not ops & set(QUANTIZABLE_OPS):
        raise ValueError(f"{path} cannot be quantized: it holds none of {QUANTIZABLE_OPS} (only {sorted(ops)}), the "
                         "operators onnxruntime has int8 kernels for, so quantization would change nothing.")


def to_fp16(src, dst) -> Path:
    """Convert the FP32 ONNX file ``src`` to float16 weights and arithmetic in ``dst``; inputs and outputs stay float32.

    Uses onnxruntime's converter (``onnxruntime.transformers.float16``). On most CPUs onnxruntime has
    few float16 kernels and inserts casts, so FP16 halves the file but rarely speeds up a CPU; it is
    the GPU format (Tensor Cores, TensorRT ``--fp16``).

    Taught in: 23_model_lightweighting"""
    onnx = require_module("onnx")
    require_module("onnxruntime")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # values below float16's smallest normal number are flushed, with a warning
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return dst


def _quantize(run: Callable[[], None], src, dst) -> Path:
    check_quantizable(src)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    import logging

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs a pre-processing hint at WARNING
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the percentile calibrator prints its progress
            run()
    except Exception as error:
        raise ValueError(f"onnxruntime could not quantize {src}: {type(error).__name__}: {error}") from error
    finally:
        logging.getLogger().setLevel(level)
    return Path(dst)


def quantize_dynamic_int8(src, dst) -> Path:
    """ORT dynamic quantization: int8 weights (per tensor), activation ranges measured per batch at run time.

    Needs no calibration data. ``src`` must be an FP32 ONNX file (:func:`check_quantizable`).

    Taught in: 23_model_lightweighting"""
    require_module("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    return _quantize(lambda: quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8), src, dst)


def _calibration_reader(session_input, batches: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {session_input: batch}

    return _Reader()


def quantize_static_int8(src, dst, calibration, *, batch_size: int = 16, per_channel: bool = True,
                         method: str = "minmax") -> Path:
    """ORT static quantization (QDQ format, int8 weights and activations), activation ranges from ``calibration``.

    ``calibration``: real inputs ``float32 (N, C, H, W)`` shaped like the model's input (a few hundred
    training images are enough; never the test set); fed in batches of ``batch_size``. ``per_channel``
    gives every output channel of a convolution its own weight scale. A model exported with a fixed batch
    size is fed batches of that size (a last, incomplete batch is left out). ``method``: ``"minmax"`` (the
    observed range) or ``"percentile"`` (99.999 %, clips rare outliers).

    Taught in: 23_model_lightweighting"""
    require_module("onnxruntime")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"method={method!r} must be one of {sorted(methods)}.")
    x = np.ascontiguousarray(as_numpy(calibration, "calibration", dtype=np.float32))
    inp = onnx_session(src).get_inputs()[0]
    expected = [d if isinstance(d, int) else None for d in inp.shape]
    if x.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], x.shape[1:])) or not len(x):
        raise ValueError(f"calibration has shape {x.shape} but {src} expects input {inp.shape} (batch first); pass "
                         "real training inputs prepared exactly as for the model (same encoding and size).")
    if expected[0] is not None:  # an export with a fixed batch size (e.g. ultralytics' batch 1) takes only that
        batch_size = expected[0]
        x = x[:len(x) - len(x) % batch_size]
        if not len(x):
            raise ValueError(f"calibration holds fewer inputs than {src}'s fixed batch size {batch_size}.")
    batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    return _quantize(lambda: quantize_static(
        str(src), str(dst), _calibration_reader(inp.name, batches), quant_format=QuantFormat.QDQ,
        per_channel=per_channel, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
        calibrate_method=methods[method]), src, dst)


def torch_dynamic_int8(model: nn.Module) -> nn.Module:
    """``torch.ao`` dynamic quantization: a copy whose ``nn.Linear`` layers hold int8 weights (CPU only).

    It applies to Linear (and LSTM) layers only; a CNN keeps its convolutions in float32, so only its
    classifier head shrinks. Raises ``ValueError`` for a model without any ``nn.Linear``.

    Used by: course_utils.training.lightweight"""
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer: torch.ao dynamic quantization only replaces "
                         "Linear/LSTM layers, so nothing would change; use quantize_static_int8 on its ONNX export.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao eager quantization is deprecated in favour of torchao
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.Linear},
                                                      dtype=torch.qint8)


def quantization_params(x, *, dtype: str = "uint8", symmetric: bool = False) -> tuple[float, int]:
    """``(scale, zero_point)`` that map the range of ``x`` onto ``dtype`` (``"uint8"`` 0..255 or ``"int8"`` -128..127).

    Asymmetric: ``lo = min(min(x), 0)``, ``hi = max(max(x), 0)``, ``scale = (hi - lo) / (qmax - qmin)``,
    ``zero_point = round(qmin - lo / scale)`` clipped to the range. Symmetric (int8 weights):
    ``scale = max|x| / 127``, ``zero_point = 0``. Then ``q = clip(round(x / scale) + zero_point)``.

    Taught in: 23_model_lightweighting"""
    ranges = {"uint8": (0, 255), "int8": (-128, 127)}
    if dtype not in ranges:
        raise ValueError(f"dtype={dtype!r} must be 'uint8' or 'int8'.")
    x = as_numpy(x, "x", dtype=np.float64)
    qmin, qmax = ranges[dtype]
    if symmetric:
        if dtype != "int8":
            raise ValueError("symmetric=True needs dtype='int8' (zero_point 0 in the middle of the range).")
        return float(np.abs(x).max() / 127.0) or 1.0, 0
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / (qmax - qmin) or 1.0
    return float(scale), int(np.clip(round(qmin - lo / scale), qmin, qmax))


def prune_model(model: nn.Module, *, amount: float, structured: bool = False) -> nn.Module:
    """Prune every ``Conv2d`` / ``Linear`` weight of ``model`` in place with ``torch.nn.utils.prune``.

    Unstructured: global L1 (the ``amount`` share of all those weights with the smallest ``|w|`` becomes
    0, wherever they are). Structured: per layer, the ``amount`` share of output channels (rows) with the
    smallest L2 norm becomes 0 (``ln_structured``, ``dim=0``; the classifier's last layer is left alone,
    a class cannot be removed). The masks stay attached (``weight_orig`` * ``weight_mask``) so that a
    fine-tune keeps the zeros; :func:`finetune_pruned` removes them at the end. Returns ``model``.

    Taught in: 23_model_lightweighting"""
    from torch.nn.utils import prune

    amount = check_real(amount, "amount", minimum=0.0, maximum=1.0)
    layers = [m for m in model.modules() if isinstance(m, _PRUNABLE)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to prune.")
    for layer in layers:  # a channels_last weight (engine.fit on a GPU) cannot be flattened by view()
        layer.weight.data = layer.weight.data.contiguous()
    if structured:
        for layer in layers[:-1]:
            prune.ln_structured(layer, "weight", amount=amount, n=2, dim=0)
    else:
        prune.global_unstructured([(m, "weight") for m in layers], pruning_method=prune.L1Unstructured, amount=amount)
    return model


def sparsity(model: nn.Module) -> float:
    """Share of exact zeros among all ``Conv2d`` / ``Linear`` weights of ``model`` (masks applied).

    Taught in: 23_model_lightweighting"""
    weights = [m.weight.detach() for m in model.modules() if isinstance(m, _PRUNABLE)]
    if not weights:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer.")
    return float(sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights))


def finetune_pruned(model: nn.Module, loader, *, epochs: int = 1, lr: float = 1e-3, device="cpu") -> nn.Module:
    """Fine-tune a model pruned by :func:`prune_model` (the masks keep the zeros), then make pruning permanent.

    ``loader`` yields ``(x, y)`` training batches; AdamW at ``lr``, cross-entropy. Afterwards
    ``prune.remove`` folds every mask into a plain ``weight``. Returns ``model`` (on the CPU, eval mode).

    Taught in: 23_model_lightweighting"""
    from torch.nn.utils import prune

    from course_utils.training import engine

    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    for _ in range(check_int(epochs, "epochs", minimum=0)):
        engine.train_one_epoch(model, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, device=device,
                               scaler=scaler)
    for module in model.modules():
        if isinstance(module, _PRUNABLE) and prune.is_pruned(module) and hasattr(module, "weight_orig"):
            prune.remove(module, "weight")
    return model.cpu().eval()


def time_per_call(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 10) -> dict:
    """Run ``fn()`` ``warmup`` times untimed, then ``repeats`` times: ``{"median_ms", "min_ms", "repeats", "times_ms"}``
    (wall time; on a shared machine the minimum is the least disturbed figure, the median the typical one).

    Also used by course_utils.detection.yolo_lightweight, solutions/23_model_lightweighting_solutions and
    benchmarks/bench_yolo.py.

    Taught in: 18_yolo_comparison_export"""
    check_int(repeats, "repeats", minimum=1)
    for _ in range(check_int(warmup, "warmup", minimum=0)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "repeats": repeats, "times_ms": times}


class Variant(NamedTuple):
    """One variant of a model: its file, the runtime, and ``predict(x float32 (N, C, H, W)) -> float32 (N, K)``."""
    file: Path
    runtime: str
    predict: Callable[[np.ndarray], np.ndarray]


def _torch_variant(model: nn.Module, path: Path, runtime: str) -> Variant:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    path.write_bytes(buffer.getvalue())
    model = model.cpu().eval()

    def predict(x):
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).float().numpy()

    return Variant(path, runtime, predict)


def _onnx_variant(path: Path, threads: int) -> Variant:
    session = onnx_session(path, threads=threads)
    return Variant(path, "onnxruntime", lambda x: onnx_predict(session, x))


def classifier_variants(model: nn.Module, calibration, out_dir, *, pruned: Mapping[str, nn.Module] | None = None,
                        threads: int = 1) -> dict[str, Variant]:
    """Write every variant of the classifier ``model`` into ``out_dir`` and return them by name, FP32 first.

    PyTorch FP32 (state dict), ONNX FP32 / FP16 / INT8 dynamic / INT8 static (calibrated on ``calibration``
    ``float32 (N, C, H, W)``, real training inputs), torch.ao INT8 dynamic (Linear layers; left out with a
    printed reason when the model has none) and, when given, the ``pruned`` models ``{name: model}``
    (PyTorch, pruning made permanent by :func:`finetune_pruned`). ONNX sessions run on the CPU with ``threads`` threads.

    Taught in: 23_model_lightweighting"""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calibration = as_numpy(calibration, "calibration", dtype=np.float32)
    model = copy.deepcopy(model).cpu().eval()
    fp32 = export_onnx_model(model, torch.from_numpy(calibration[:1]), out / "fp32.onnx")
    variants = {"FP32 (PyTorch)": _torch_variant(model, out / "fp32.pt", "PyTorch"),
                "FP32 (ONNX)": _onnx_variant(fp32, threads),
                "FP16 (ONNX)": _onnx_variant(to_fp16(fp32, out / "fp16.onnx"), threads),
                "INT8 dynamic (ORT)": _onnx_variant(quantize_dynamic_int8(fp32, out / "int8_dynamic.onnx"), threads),
                "INT8 static QDQ (ORT)": _onnx_variant(
                    quantize_static_int8(fp32, out / "int8_static.onnx", calibration), threads)}
    try:
        variants["INT8 dynamic Linear (torch.ao)"] = _torch_variant(torch_dynamic_int8(model), out / "int8_torch_ao.pt",
                                                                    "PyTorch")
    except ValueError as error:
        print(f"torch.ao variant left out: {error}")
    for k, (name, net) in enumerate((pruned or {}).items()):
        variants[name] = _torch_variant(copy.deepcopy(net).cpu().eval(), out / f"pruned_{k}.pt", "PyTorch")
    return variants


def measure_variants(variants: Mapping[str, Variant], x, y, *, repeats: int = 20, warmup: int = 3,
                     threads: int = 1) -> pd.DataFrame:
    """One table: per variant its file size, CPU latency and macro-F1, and each relative to the first (FP32).

    ``x`` ``float32 (N, C, H, W)`` test inputs and ``y`` ``int (N,)`` labels score every variant on
    the same data (macro-F1 of the argmax, :func:`course_utils.training.metrics.macro_f1`). Latency: the
    median of ``repeats`` calls on one input (batch 1) after ``warmup`` calls, with PyTorch set to
    ``threads`` threads (ONNX sessions are made with theirs by :func:`classifier_variants`). Columns:
    ``runtime``, ``file (MB)``, ``gzip (MB)`` (what a sparse file shrinks to), ``size vs FP32``,
    ``latency median (ms)``, ``speed-up vs FP32``, ``macro-F1``, ``Δ macro-F1``, ``agreement`` (share of
    predictions equal to the first variant's). ``df.attrs["note"]`` states the settings.

    Taught in: 23_model_lightweighting"""
    if not variants:
        raise ValueError("variants is empty: build them with classifier_variants(model, ...).")
    x = np.ascontiguousarray(as_numpy(x, "x", dtype=np.float32))
    y = as_numpy(y, "y").astype(np.int64).reshape(-1)
    if len(x) != len(y) or not len(y):
        raise ValueError(f"x has {len(x)} inputs and y {len(y)} labels; they must agree and not be empty.")
    previous = torch.get_num_threads()
    torch.set_num_threads(check_int(threads, "threads", minimum=1))
    rows, reference = [], None
    try:
        for name, v in variants.items():
            pred = v.predict(x).argmax(1)
            reference = pred if reference is None else reference
            timing = time_per_call(lambda v=v: v.predict(x[:1]), warmup=warmup, repeats=repeats)
            rows.append({"variant": name, "runtime": v.runtime, "file (MB)": file_mb(v.file),
                         "gzip (MB)": _gzip_mb(v.file), "latency median (ms)": timing["median_ms"],
                         "macro-F1": metrics.macro_f1(y, pred), "agreement": float((pred == reference).mean())})
    finally:
        torch.set_num_threads(previous)
    table = pd.DataFrame(rows).set_index("variant")
    first = table.iloc[0]
    table.insert(3, "size vs FP32", table["file (MB)"] / first["file (MB)"])
    table.insert(5, "speed-up vs FP32", first["latency median (ms)"] / table["latency median (ms)"])
    table.insert(7, "Δ macro-F1", table["macro-F1"] - first["macro-F1"])
    table.attrs["note"] = (f"CPU, batch 1, median of {repeats} calls after {warmup} warm-up calls, {threads} thread(s); "
                           f"macro-F1 on {len(y)} inputs")
    return table
