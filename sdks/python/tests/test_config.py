"""Where the key and URL come from: explicit arguments > OPERATOR_API_KEY/OPERATOR_URL >
~/.operator/config.json (operatorApiKey/operatorAppUrl) > the default URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from operator_sdk import AsyncOperator, ConfigurationError, Operator


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OPERATOR_API_KEY", raising=False)
    monkeypatch.delenv("OPERATOR_URL", raising=False)
    return tmp_path


def write_config(home: Path, **values: str) -> None:
    (home / ".operator").mkdir(exist_ok=True)
    (home / ".operator" / "config.json").write_text(json.dumps(values))


def test_config_file_alone(home: Path, server):
    write_config(home, operatorApiKey=server.api_key, operatorAppUrl=server.url + "/")
    c = Operator()
    assert c.api_key == server.api_key and c.base_url == server.url
    assert c.whoami().authenticated  # and it really works against the server


def test_environment_beats_the_config_file(home: Path, monkeypatch: pytest.MonkeyPatch):
    write_config(home, operatorApiKey="ck_live_file", operatorAppUrl="http://file.example")
    monkeypatch.setenv("OPERATOR_API_KEY", "ck_live_env")
    c = Operator()
    assert c.api_key == "ck_live_env" and c.base_url == "http://file.example"
    monkeypatch.setenv("OPERATOR_URL", "http://env.example")
    assert Operator().base_url == "http://env.example"


def test_explicit_arguments_beat_everything(home: Path, monkeypatch: pytest.MonkeyPatch):
    write_config(home, operatorApiKey="ck_live_file", operatorAppUrl="http://file.example")
    monkeypatch.setenv("OPERATOR_API_KEY", "ck_live_env")
    monkeypatch.setenv("OPERATOR_URL", "http://env.example")
    c = Operator(api_key="ck_live_arg", base_url="http://arg.example")
    assert (c.api_key, c.base_url) == ("ck_live_arg", "http://arg.example")
    a = AsyncOperator(api_key="ck_live_arg")
    assert (a.api_key, a.base_url) == ("ck_live_arg", "http://env.example")


def test_default_url_and_clear_error_without_a_key(home: Path):
    with pytest.raises(ConfigurationError) as e:
        Operator()
    assert "OPERATOR_API_KEY" in str(e.value) and "api_key" in str(e.value)
    assert Operator(api_key="ck_live_x").base_url == "http://127.0.0.1:8080"
    with pytest.raises(ConfigurationError):
        AsyncOperator()


def test_a_broken_config_file_is_named(home: Path):
    (home / ".operator").mkdir()
    (home / ".operator" / "config.json").write_text("{not json")
    with pytest.raises(ConfigurationError) as e:
        Operator()
    assert "config.json" in str(e.value)
    # an explicit key and URL never read the file
    assert Operator(api_key="k", base_url="http://x").api_key == "k"


def test_config_path_argument(tmp_path: Path, home: Path):
    p = tmp_path / "other.json"
    p.write_text(json.dumps({"operatorApiKey": "ck_live_other"}))
    assert Operator(config_path=p).api_key == "ck_live_other"


def test_bad_base_url(home: Path):
    with pytest.raises(ConfigurationError):
        Operator(api_key="k", base_url="ftp://nope")
