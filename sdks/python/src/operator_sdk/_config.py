"""Where the client's API key and base URL come from: explicit arguments, then the
environment (``OPERATOR_API_KEY``, ``OPERATOR_URL``), then ``~/.operator/config.json``
(``operatorApiKey``, ``operatorAppUrl``, as written by ``operator login``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ._errors import ConfigurationError

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
ENV_API_KEY = "OPERATOR_API_KEY"
ENV_URL = "OPERATOR_URL"


def config_file_path() -> Path:
    """``~/.operator/config.json`` of the current user."""
    return Path.home() / ".operator" / "config.json"


def _read_config(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigurationError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold a JSON object")
    return data


def resolve(
    api_key: Optional[str],
    base_url: Optional[str],
    config_path: Optional[Path] = None,
) -> Tuple[str, str]:
    """``(api_key, base_url)``: explicit > environment > config file (> default URL)."""
    env_key = os.environ.get(ENV_API_KEY) or None
    env_url = os.environ.get(ENV_URL) or None
    key = api_key or env_key
    url = base_url or env_url
    if not key or not url:
        data = _read_config(config_path or config_file_path())
        if not key and isinstance(data.get("operatorApiKey"), str):
            key = data["operatorApiKey"] or None
        if not url and isinstance(data.get("operatorAppUrl"), str):
            url = data["operatorAppUrl"] or None
    if not key:
        raise ConfigurationError(
            "No Operator API key: pass Operator(api_key=...), set OPERATOR_API_KEY, or run "
            f"`operator login` (which writes operatorApiKey to {config_path or config_file_path()})."
        )
    url = (url or DEFAULT_BASE_URL).rstrip("/")
    if not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigurationError(f"base URL must start with http:// or https://, got {url!r}")
    return key, url
