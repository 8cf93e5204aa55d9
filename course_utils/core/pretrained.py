"""Pretrained weights that never hang: the torch hub cache, a short-timeout download, a local file.

Used by :mod:`course_utils.training.transfer` (classification backbones) and the detection
models (:mod:`course_utils.detection.tv_detectors`, :mod:`course_utils.detection.yolo`).
Offline, a missing download is detected by a ~2 s connection probe and reported as a
reason string; the caller then warns once (:class:`PretrainedWeightsWarning`) and
starts from random weights.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

__all__ = ["PretrainedWeightsWarning", "host_reachable", "cached_weights_path",
           "resolve_weights", "load_imagenet_state_dict", "read_weights_file", "load_into"]

#: Seconds to wait for the weights server before giving up (offline machines).
_CONNECT_TIMEOUT_S = 2.0



class PretrainedWeightsWarning(UserWarning):
    """Pretrained weights could not be had; the model uses random initialisation."""


def host_reachable(url: str, timeout: float = _CONNECT_TIMEOUT_S) -> bool:
    """Quick check that the server of ``url`` (or the HTTPS proxy) accepts a connection.

    Runs in a daemon thread so that even a stuck DNS lookup cannot hold the
    caller for more than about ``timeout`` seconds.

    Taught in: 19_defect_segmentation"""
    target = urllib.request.getproxies().get("https") or url
    parsed = urllib.parse.urlparse(target if "://" in target else f"http://{target}")
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(ok)


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torch hub keeps the file of ``weights``: ``<torch.hub.get_dir()>/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(weights.url).path)


def resolve_weights(name: str, weights) -> WeightsEnum:
    enum_cls = torchvision.models.get_model_weights(name)
    if isinstance(weights, WeightsEnum):
        if not isinstance(weights, enum_cls):
            raise ValueError(f"weights={weights} belong to another model; {name} takes {enum_cls.__name__}.")
        return weights
    valid = ["DEFAULT"] + [w.name for w in enum_cls]
    if weights not in valid:
        raise ValueError(
            f"weights={weights!r} is not a weights name of {name} (valid: {valid}), not None, "
            "and not an existing file; pass a path to a .pth state dict to load local weights."
        )
    return enum_cls[weights]


def load_imagenet_state_dict(weights: WeightsEnum, *, allow_download: bool = True) -> tuple[dict | None, str]:
    """The state dict of torchvision ``weights``, from the cache or (if allowed) a download.

    Returns ``(state_dict, "")`` on success and ``(None, reason)`` when the
    weights cannot be had offline: not in the torch hub cache and the server
    is unreachable (checked with a ~2 s connection test) or downloading is not
    allowed. Never blocks for long without network access.
    """
    cached = cached_weights_path(weights)
    if not cached.is_file():
        if not allow_download:
            return None, f"not in the cache {cached} and allow_download=False"
        if not host_reachable(weights.url):
            return None, f"not in the cache {cached} and {urllib.parse.urlparse(weights.url).hostname} is unreachable"
    try:
        state = weights.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except OSError as exc:  # urllib's URLError/HTTPError, timeouts, connection resets are all OSErrors
        return None, f"download of {weights.url} failed ({type(exc).__name__}: {exc})"
    except Exception as exc:  # an unreadable cached file: tell the user which one to delete
        raise ValueError(
            f"the cached weights file {cached} cannot be loaded ({type(exc).__name__}: {exc}); "
            "delete it and run again to download a fresh copy."
        ) from exc
    return state, ""


def read_weights_file(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"weights file {path} cannot be read as a PyTorch state dict ({type(exc).__name__}: {exc}). "
            "Save weights with torch.save(model.state_dict(), path)."
        ) from exc
    for key in ("state_dict", "model_state", "model_state_dict", "model"):  # common checkpoint layouts
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f"weights file {path} does not hold a state dict (name -> tensor); got {type(obj).__name__}.")
    for prefix in ("module.", "backbone."):  # DataParallel / TransferModel.state_dict() layouts
        if obj and all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def load_into(backbone: nn.Module, state: dict, *, head_name: str, name: str, origin: str) -> None:
    """Load ``state`` into ``backbone``; a head of another class count is left freshly initialised."""
    own = backbone.state_dict()
    head_keys = {k for k in own if k.startswith(head_name + ".")}
    state = {k: v for k, v in state.items() if not (k in head_keys and v.shape != own[k].shape)}
    missing = sorted(set(own) - set(state) - head_keys)
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"{origin} does not fit {name}: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}, {len(wrong_shape)} keys of another shape "
            f"{wrong_shape[:3]}. Was it saved from another architecture? Pass weights of a {name}."
        )
    backbone.load_state_dict(state, strict=False)
