"""The example runner: configured server, else embedded Valkey, else fakeredis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from valkey_redis.examples.runner import example_modules
from valkey_redis.server import EmbeddedValkey, free_port


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    full_env.pop("VALKEY_REDIS_BACKEND", None)
    full_env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_example_numbers_are_discovered() -> None:
    """Example modules are found by their number."""
    assert example_modules()[1] == "valkey_redis.examples.example_1_basics"


@pytest.mark.real
def test_runner_starts_an_embedded_valkey_when_nothing_answers(
    valkey_server: EmbeddedValkey,
) -> None:
    """With a dead VALKEY_URL the runner says it started an embedded server, and exits 0."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = _run(["valkey_redis.examples.runner", "1"], VALKEY_URL=dead)
    assert result.returncode == 0, result.stderr
    assert f"nothing answers at {dead}: started an embedded Valkey" in result.stdout
    assert "(embedded Valkey started for this run)" in result.stdout


@pytest.mark.real
def test_example_alone_starts_its_own_embedded_valkey(valkey_server: EmbeddedValkey) -> None:
    """`python -m ...example_1_basics` with nothing running names the embedded server it started."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = _run(["valkey_redis.examples.example_1_basics"], VALKEY_URL=dead)
    assert result.returncode == 0, result.stderr
    assert "started an embedded Valkey 9." in result.stdout


@pytest.mark.real
def test_runner_uses_the_configured_server(valkey_server: EmbeddedValkey) -> None:
    """A server answering at VALKEY_URL is used as is."""
    result = _run(["valkey_redis.examples.runner", "1"], VALKEY_URL=valkey_server.url)
    assert result.returncode == 0, result.stderr
    assert f" at {valkey_server.url}\n" in result.stdout
    assert "embedded" not in result.stdout


def test_runner_rejects_an_unknown_example_number() -> None:
    """Asking for a missing example is exit status 2 with the valid numbers."""
    result = _run(["valkey_redis.examples.runner", "99"], VALKEY_REDIS_BACKEND="fakeredis")
    assert result.returncode == 2
    assert "no example numbered 99; there are 1, 2, 3" in result.stderr


def test_an_unknown_example_starts_no_server() -> None:
    """`make example-99` with nothing on VALKEY_URL says so before starting an embedded Valkey."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = _run(["valkey_redis.examples.runner", "99"], VALKEY_URL=dead)
    assert result.returncode == 2
    assert "no example numbered 99" in result.stderr
    assert "embedded" not in result.stdout


@pytest.mark.real
def test_a_killed_parent_leaves_no_server_behind(valkey_server: EmbeddedValkey) -> None:
    """If the process that started an embedded server is SIGKILLed, the server dies too."""
    code = (
        "import time\n"
        "from valkey_redis.server import EmbeddedValkey\n"
        "server = EmbeddedValkey().start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        os.kill(server_pid, signal.SIGKILL)
        pytest.fail("the embedded server outlived its parent")


def test_runner_explains_a_malformed_url() -> None:
    """A VALKEY_URL without scheme is exit status 2 with a one-line explanation."""
    result = _run(["valkey_redis.examples.runner", "1"], VALKEY_URL="localhost:6379")
    assert result.returncode == 2
    assert "must start with redis://" in result.stderr
    assert "Traceback" not in result.stderr
