"""A real MLflow tracking server for tests: `mlflow server` on 127.0.0.1 (a free port) with a SQLite
backend store and its own artifact folder, served over HTTP like any team's server.

The server takes ~20 s to boot, so a test module may call `prestart()` when it is imported (at
collection): the server then boots while the earlier tests run. The session fixture
`mlflow_server` waits until it answers and yields its URL; it is stopped at the end of the session
(or at exit, when no test used it).
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

BOOT_SECONDS = 120


class MlflowServer:
    """One `mlflow server` process and its folder (SQLite store, artifacts, log)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="edgeopt-mlflow-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "server.log"
        command = [str(Path(sys.executable).with_name("mlflow")), "server",
                   "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                   "--default-artifact-root", "mlflow-artifacts:/", "--artifacts-destination", str(self.root / "artifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> str:
        """The URL, once the server answers /health; fails the test with the log's tail otherwise."""
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.25)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        pytest.fail(f"mlflow server did not answer within {BOOT_SECONDS} s:\n{tail}")

    def stop(self) -> None:
        """Stop the server's process group (its workers too) and remove its folder."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(2)  # it waits for idle keep-alive connections; a test store need not
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


_server: MlflowServer | None = None


def prestart() -> MlflowServer:
    """Start the session's server now (once), without waiting for it."""
    global _server
    if _server is None:
        _server = MlflowServer()
        atexit.register(_server.stop)
    return _server


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[str]:
    """URL of a running MLflow tracking server on 127.0.0.1 with a model registry."""
    server = prestart()
    yield server.wait()
    server.stop()
