"""Test helper: an environment without the internet, for notebooks and subprocesses the tests start."""
from __future__ import annotations

from collections.abc import Mapping

#: A closed local port: a download through it fails at once instead of waiting.
DEAD_PROXY = "http://127.0.0.1:9"


def dead_proxy_env(environ: Mapping[str, str], yolo_config_dir) -> dict[str, str]:
    """``environ`` with every proxy variable pointing at :data:`DEAD_PROXY`, no ``YOLO_*`` setting (so nothing
    is declared offline in advance) and ultralytics' settings in ``yolo_config_dir``."""
    env = {k: v for k, v in environ.items() if not k.startswith("YOLO_") and "proxy" not in k.lower()}
    env.update(HTTP_PROXY=DEAD_PROXY, HTTPS_PROXY=DEAD_PROXY, http_proxy=DEAD_PROXY, https_proxy=DEAD_PROXY,
               YOLO_CONFIG_DIR=str(yolo_config_dir))
    return env
