"""Helpers for store tests that need other processes: start Python children, read their lines, release them at
once (a barrier on stdin), and never leave one running after the test."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """One Python process running `script`; its stdout arrives line by line, its stderr goes to a file."""

    def __init__(self, script: str, args: list[str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._lines.put(raw.decode().rstrip("\n"))
        self._lines.put(None)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def line(self, timeout: float = 60) -> str:
        """The child's next line of stdout; fails the test if it ends or stays silent instead."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"child {self.pid} printed nothing for {timeout} s; stderr:\n{self.stderr()}")
        if line is None:
            self.proc.wait(timeout=10)
            pytest.fail(f"child {self.pid} exited ({self.proc.returncode}) without a line; stderr:\n{self.stderr()}")
        return line

    def go(self) -> None:
        """Release a child waiting at `sys.stdin.readline()`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL, then reap it; fails the test if the child had already ended by itself."""
        os.kill(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait(timeout=10)
        if code != -signal.SIGKILL:
            pytest.fail(f"child {self.pid} had already exited ({code}) before the kill; stderr:\n{self.stderr()}")

    def finish(self, timeout: float = 60) -> None:
        """Wait for a clean exit; fails the test with the child's stderr otherwise."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"child {self.pid} still running after {timeout} s; stderr:\n{self.stderr()}")
        if code != 0:
            pytest.fail(f"child {self.pid} exited with {code}; stderr:\n{self.stderr()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


class Children:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Child] = []

    def start(self, script: str, *args: str) -> Child:
        child = Child(script, list(args), self.directory / f"child-{len(self.started)}.stderr")
        self.started.append(child)
        return child

    def close(self) -> None:
        for child in self.started:
            child.close()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """Starts Python child processes (run from the project root, with this interpreter); kills any left at the end."""
    spawned = Children(tmp_path)
    try:
        yield spawned
    finally:
        spawned.close()
