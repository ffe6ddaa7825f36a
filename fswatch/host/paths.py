"""Where a watch's files live: settings under the config dir, control and state under the
runtime dir. FSWATCH_CONFIG_DIR / FSWATCH_RUNTIME_DIR override the defaults, so the whole
CLI works unprivileged and in tests.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG_DIR = "/etc/fswatch"
DEFAULT_RUNTIME_DIR = "/run/fswatch"


def config_dir() -> Path:
    return Path(os.environ.get("FSWATCH_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


def runtime_dir() -> Path:
    return Path(os.environ.get("FSWATCH_RUNTIME_DIR") or DEFAULT_RUNTIME_DIR)


def conf_path(kind: str, watch_id: str) -> Path:
    return config_dir() / kind / f"{watch_id}.conf"


def password_path(kind: str, watch_id: str) -> Path:
    return config_dir() / kind / f"{watch_id}.password"


def watch_runtime_dir(kind: str, watch_id: str) -> Path:
    return runtime_dir() / kind / watch_id
