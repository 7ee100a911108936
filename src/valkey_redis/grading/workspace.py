"""Where the exercises are, the pristine stubs, and the servers to grade on.

Use this from the grader's commands: :func:`find_root` locates the repository
(the nearest folder holding ``exercises/``), :func:`stub_text` returns the stub
shipped inside the package (what ``make reset`` restores), and
:func:`grading_backends` yields fakeredis and one embedded Valkey for a run.

Not for: a server you care about. The grader never uses ``VALKEY_URL``; checks
empty the server they run on.

How it fails: when the bundled binary cannot run (or fakeredis is missing),
grading goes on with the other backend and the description says why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import redis

from valkey_redis.grading.cluster_env import PRIMARIES, ClusterHandle
from valkey_redis.grading.harness import Backend
from valkey_redis.server import EmbeddedValkey, ServerError, binary_can_run

__all__ = [
    "EXERCISES",
    "cluster_note",
    "exercise_path",
    "find_root",
    "grading_backends",
    "relative",
    "stub_text",
]

EXERCISES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder (upwards) holding ``exercises/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "exercises").is_dir():
            return folder
    return here


def stub_text(number: int) -> str:
    """The pristine stub of exercise ``number``, shipped inside the package."""
    stub = resources.files("valkey_redis.grading") / "stubs" / f"exercise_{number}.py"
    return stub.read_text(encoding="utf-8")


@contextmanager
def grading_backends(which: str = "both") -> Iterator[tuple[list[Backend], str]]:
    """Yield the backends to grade on, and a line describing them.

    ``which``: "both", "fakeredis" or "valkey". Real Valkey is an embedded server
    started once for the whole run; where the bundled binary cannot run,
    grading continues on fakeredis and says so.
    """
    backends: list[Backend] = []
    notes: list[str] = []
    if which in {"both", "fakeredis"}:
        if importlib.util.find_spec("fakeredis") is None:
            notes.append("fakeredis skipped: not installed (`make setup` installs it)")
        else:
            backends.append(Backend("fakeredis", None, "fakeredis"))
    server: EmbeddedValkey | None = None
    cluster = ClusterHandle()
    if which in {"both", "valkey"}:
        try:
            if not binary_can_run():
                msg = "the bundled valkey-server cannot run here"
                raise ServerError(msg)
            server = EmbeddedValkey().start()
            version = _server_version(server.url)
            text = f"Valkey {version} (embedded, port {server.port})"
            backends.append(Backend("valkey", server.url, text))
            # Started by the first check that needs it (exercise 12), stopped below.
            text = f"a {PRIMARIES}-primary Valkey Cluster (embedded, started when needed)"
            backends.append(Backend("cluster", None, text, start=cluster.url))
        except ServerError as exc:
            notes.append(f"real Valkey skipped: {str(exc).splitlines()[0]}")
    try:
        names = " and ".join(b.description for b in backends if b.name != "cluster") or "nothing"
        yield backends, f"on {names}" + (f" ({'; '.join(notes)})" if notes else "")
    finally:
        cluster.stop()
        if server is not None:
            server.stop()


def cluster_note(backends: Sequence[Backend]) -> str:
    """ ", and a 3-primary Valkey Cluster on ports ..." once a check started it; else ""."""
    for backend in backends:
        handle = getattr(backend.start, "__self__", None)
        if isinstance(handle, ClusterHandle) and handle.started:
            ports = ", ".join(map(str, handle.ports))
            return f", and a {PRIMARIES}-primary Valkey Cluster (embedded, ports {ports})"
    return ""


def _server_version(url: str) -> str:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        info: dict[str, Any] = client.info("server")
        return str(info.get("valkey_version", info.get("redis_version", "?")))
    finally:
        client.close()


def exercise_path(root: Path, number: int, *, solutions: bool = False) -> Path:
    """``exercises/exercise_N.py``, or ``exercises/solutions/exercise_N.py``."""
    folder = root / "exercises" / ("solutions" if solutions else "")
    return folder / f"exercise_{number}.py"


def relative(path: Path, root: Path) -> Path:
    """``path`` relative to ``root`` when inside it, for display."""
    try:
        return path.resolve().relative_to(root)
    except ValueError:
        return path
