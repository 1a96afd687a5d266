"""Session fixtures: a scripted fake LLM, and the real Operator server (the embedded
``operator serve``) on a free port with a fresh data directory, pointed at that fake.

The binary is ``$OPERATOR_BIN``, else ``target/debug/operator`` of the repository (built with
``cargo build -p operator-cli`` when missing).
"""

from __future__ import annotations

import os
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_llm import FakeLlm  # noqa: E402

from operator_sdk import Operator  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def wait_until(cond: Callable[[], object], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Polls ``cond`` until it returns something truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Server:
    def __init__(self, url: str, api_key: str, proc: subprocess.Popen, data_dir: str) -> None:
        self.url = url
        self.api_key = api_key
        self.proc = proc
        self.data_dir = data_dir
        self.log: List[str] = []


def _binary() -> Path:
    explicit = os.environ.get("OPERATOR_BIN")
    if explicit:
        return Path(explicit)
    path = REPO / "target" / "debug" / "operator"
    if not path.exists():
        subprocess.run(["cargo", "build", "-p", "operator-cli"], cwd=REPO, check=True)
    return path


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLlm]:
    fake = FakeLlm()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def server(fake_llm: FakeLlm) -> Iterator[Server]:
    alphabet = string.ascii_letters + string.digits
    key = "ck_live_" + "".join(secrets.choice(alphabet) for _ in range(40))
    data_dir = tempfile.mkdtemp(prefix="operator-pysdk-")
    env = {k: v for k, v in os.environ.items() if k not in ("OPERATOR_MASTER_KEY", "OPERATOR_PUBLIC_URL")}
    for k in list(env):
        if k.startswith("OPERATOR_LLM") or k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPERATOR_API_KEY", "OPERATOR_URL"):
            del env[k]
    env.update(fake_llm.env())
    env["OPERATOR_BOOTSTRAP_KEY"] = key
    proc = subprocess.Popen(
        [str(_binary()), "serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    found: Dict[str, str] = {}
    lines: List[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "url" not in found and "Listening on " in line:
                found["url"] = line.split("Listening on ", 1)[1].split()[0]

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_until(lambda: "url" in found or proc.poll() is not None, timeout=60, what="the server to listen")
        if "url" not in found:
            raise RuntimeError("operator serve exited:\n" + "".join(lines))
        srv = Server(found["url"].rstrip("/"), key, proc, data_dir)
        srv.log = lines
        wait_until(lambda: _healthy(srv.url), timeout=30, what="/api/health")
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[Operator]:
    with Operator(api_key=server.api_key, base_url=server.url) as c:
        yield c


@pytest.fixture(scope="session")
def spec(server: Server) -> dict:
    r = httpx.get(server.url + "/api/openapi.json", timeout=10)
    r.raise_for_status()
    return r.json()


@pytest.fixture(scope="session")
def active_instance(client: Operator):
    """One active instance shared by the tests that need a running workspace."""
    inst = client.instances.create(unique("shared"))
    inst = client.instances.wait_for_status(inst.id, "active", timeout=60)
    yield inst
    try:
        client.instances.delete(inst.id)
    except Exception:  # noqa: BLE001 - best effort at teardown
        pass


def assert_exact(model: Any) -> None:
    """The server sent no field the model does not declare (recursively): a runtime drift
    check for responses the OpenAPI document does not describe yet."""
    from operator_sdk import Model

    if isinstance(model, Model):
        assert not model.model_extra, f"{type(model).__name__} got undeclared fields {sorted(model.model_extra)}"
        for name in type(model).model_fields:
            assert_exact(getattr(model, name))
    elif isinstance(model, (list, tuple)):
        for item in model:
            assert_exact(item)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def cleanup(client: Operator):
    """Collects instance ids to delete after the test (keeps the plan's capacity free)."""
    ids: List[str] = []
    yield ids
    for i in ids:
        try:
            client.instances.delete(i)
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
