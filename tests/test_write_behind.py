"""Write-behind: batches, at-least-once delivery, reclaim after a crash, backpressure.

Run as a script, this file is the worker that the crash test kills with SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.write_behind import Write, WriteBehind, WriteBehindFullError


class KVSink:
    """A SQLite key-value table with an idempotent, versioned upsert (the sink pattern)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.batches: list[list[str]] = []
        self.changed = 0
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT,"
                " v_ms INTEGER NOT NULL, v_seq INTEGER NOT NULL)"
            )

    def apply(self, writes: list[Write]) -> None:
        """Upsert every write in one transaction; an older version never overwrites a newer."""
        self.batches.append([w.entry_id for w in writes])
        with contextlib.closing(sqlite3.connect(self.path)) as db, db:
            for w in writes:
                cursor = db.execute(
                    "INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                    " value = excluded.value, v_ms = excluded.v_ms, v_seq = excluded.v_seq"
                    " WHERE (excluded.v_ms, excluded.v_seq) > (kv.v_ms, kv.v_seq)",
                    (w.key, str(w.value), *w.version),
                )
                self.changed += cursor.rowcount

    def rows(self) -> dict[str, tuple[str, str]]:
        """``{key: (value, entry id)}`` as stored."""
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            found = db.execute("SELECT key, value, v_ms, v_seq FROM kv").fetchall()
        return {key: (value, f"{ms}-{seq}") for key, value, ms, seq in found}


def submit_all(wb: WriteBehind, count: int, keys: int) -> dict[str, tuple[str, str]]:
    """Submit ``count`` writes over ``keys`` keys; return the expected final rows."""
    expected: dict[str, tuple[str, str]] = {}
    for i in range(count):
        key = f"k{i % keys}"
        expected[key] = (str(i), wb.submit(key, i))
    return expected


def test_flush_applies_every_write_in_batches_and_empties_the_stream(client, tmp_path) -> None:
    """10 writes with batch_size 4 -> apply_batch sees 4, 4, 2 in order; backlog 0 after."""
    sink = KVSink(tmp_path / "db.sqlite")
    wb = WriteBehind(client, name="orders", apply_batch=sink.apply, batch_size=4)
    ids = [wb.submit(f"k{i}", i) for i in range(10)]
    assert wb.backlog() == 10
    assert wb.flush() == 10
    assert [ids[0:4], ids[4:8], ids[8:10]] == sink.batches
    assert {f"k{i}": (str(i), ids[i]) for i in range(10)} == sink.rows()
    assert (wb.backlog(), wb.pending()) == (0, 0)
    assert wb.flush() == 0


def test_stream_key_has_one_hash_tag(fake_client) -> None:
    """The stream key is wb:{name}:stream with the name escaped inside the tag."""
    wb = WriteBehind(fake_client, name="a:b{c}", apply_batch=lambda _: None)
    assert wb.stream == "wb:{a%3Ab%7Bc%7D}:stream"


def test_full_backlog_refuses_writes_instead_of_trimming(client, tmp_path) -> None:
    """At max_len the next submit raises and queues nothing; accepted writes all survive."""
    sink = KVSink(tmp_path / "db.sqlite")
    wb = WriteBehind(client, name="bounded", apply_batch=sink.apply, max_len=3)
    expected = submit_all(wb, 3, keys=3)
    with pytest.raises(WriteBehindFullError):
        wb.submit("k9", 9)
    assert client.xlen(wb.stream) == 3
    assert wb.flush() == 3
    expected["k9"] = ("9", wb.submit("k9", 9))
    assert wb.flush() == 1
    assert expected == sink.rows()


def test_failed_batch_is_replayed_and_replay_changes_nothing(client, tmp_path) -> None:
    """A sink that commits then raises: the batch stays pending; its replay changes nothing."""
    sink = KVSink(tmp_path / "db.sqlite")
    calls = 0

    def commit_then_crash(writes: list[Write]) -> None:
        nonlocal calls
        calls += 1
        sink.apply(writes)
        if calls == 1:
            raise RuntimeError("crashed after commit, before ack")

    wb = WriteBehind(client, name="replay", apply_batch=commit_then_crash, batch_size=4)
    expected = submit_all(wb, 6, keys=6)
    with pytest.raises(RuntimeError, match="before ack"):
        wb.flush()
    assert (wb.backlog(), wb.pending(), sink.changed) == (6, 4, 4)
    assert wb.flush() == 6
    assert sink.batches[0] == sink.batches[1]  # the same batch, delivered twice
    assert sink.changed == 6  # ...but its replay changed no row
    assert expected == sink.rows()


def test_reclaim_takes_over_a_dead_workers_batch_without_undoing_newer_writes(
    client, tmp_path
) -> None:
    """A dies holding old writes of k0; B applies newer ones, reclaims A's: k0 stays newest."""
    sink = KVSink(tmp_path / "db.sqlite")

    def dies(_: list[Write]) -> None:
        raise RuntimeError("worker A died")

    a = WriteBehind(client, name="q", apply_batch=dies, batch_size=3, consumer="a")
    b = WriteBehind(client, name="q", apply_batch=sink.apply, batch_size=3, consumer="b")
    expected = submit_all(a, 3, keys=1)
    with pytest.raises(RuntimeError):
        a.process_batch()
    expected = submit_all(a, 3, keys=1)  # newer writes of the same key
    assert b.reclaim(min_idle=3600) == 0  # A's entries are not idle that long
    assert b.flush() == 3
    assert b.reclaim(min_idle=0) == 3
    assert b.flush() == 3
    assert expected == sink.rows()
    assert (b.backlog(), b.pending()) == (0, 0)


@pytest.fixture(params=["fakeredis", pytest.param("valkey", marks=pytest.mark.real)])
def bytes_client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """A client with decode_responses=False, on fakeredis and on real Valkey."""
    if request.param == "fakeredis":
        raw = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        raw = connect(request.getfixturevalue("valkey_server").url, decode_responses=False)
    raw.flushall()
    yield raw
    raw.flushall()
    raw.close()


def test_bytes_replies_work_like_text_replies(bytes_client, tmp_path) -> None:
    """Without decode_responses, ids, reclaim cursors and fields still decode: nothing dropped."""
    sink = KVSink(tmp_path / "db.sqlite")

    def dies(_: list[Write]) -> None:
        raise RuntimeError("worker A died")

    a = WriteBehind(bytes_client, name="raw", apply_batch=dies, batch_size=2, consumer="a")
    b = WriteBehind(bytes_client, name="raw", apply_batch=sink.apply, batch_size=2, consumer="b")
    expected = submit_all(a, 5, keys=5)
    assert all(isinstance(entry_id, str) for _, entry_id in expected.values())
    with pytest.raises(RuntimeError):
        a.process_batch()
    assert b.reclaim(min_idle=0) == 2
    assert b.flush() == 5
    assert expected == sink.rows()


def test_malformed_entry_is_logged_and_dropped(client, tmp_path, caplog) -> None:
    """An entry without our fields does not block the queue; the good ones are applied."""
    sink = KVSink(tmp_path / "db.sqlite")
    wb = WriteBehind(client, name="junk", apply_batch=sink.apply)
    client.xadd(wb.stream, {"x": "y"})
    expected = submit_all(wb, 2, keys=2)
    with caplog.at_level(logging.ERROR, logger="valkey_redis.write_behind"):
        assert wb.flush() == 2
    assert "malformed entry" in caplog.text
    assert (expected, 0) == (sink.rows(), wb.backlog())


def test_worker_recreates_a_lost_group(client, tmp_path) -> None:
    """After the stream vanished (Valkey restarted empty), new writes are still applied."""
    sink = KVSink(tmp_path / "db.sqlite")
    wb = WriteBehind(client, name="lost", apply_batch=sink.apply)
    wb.submit("k0", 0)
    assert wb.flush() == 1
    client.delete(wb.stream)
    expected = {"k0": ("1", wb.submit("k0", 1))}
    assert wb.flush() == 1
    assert expected == sink.rows()


def test_submit_rejects_bad_input_and_queues_nothing(fake_client) -> None:
    """Empty keys, non-JSON values and bad sizes raise before anything is written."""
    wb = WriteBehind(fake_client, name="bad", apply_batch=lambda _: None)
    with pytest.raises(ValueError, match="non-empty"):
        wb.submit("", 1)
    with pytest.raises(TypeError):
        wb.submit("k", {1, 2})
    assert wb.backlog() == 0
    with pytest.raises(ValueError, match=">= 1"):
        WriteBehind(fake_client, name="bad", apply_batch=lambda _: None, max_len=0)


class RecordingCache:
    """Just the two cache methods write-behind uses; ``broken`` makes ``set`` fail."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.data: dict[str, Any] = {"k": "stale"}

    def set(self, key: str, value: Any) -> None:
        if self.broken:
            raise redis.ConnectionError("cache down")
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@pytest.mark.parametrize("broken", [False, True])
def test_submit_updates_the_cache_or_drops_the_stale_entry(fake_client, broken) -> None:
    """The cache gets the new value; if that fails the old value is deleted and the write stands."""
    cache = RecordingCache(broken=broken)
    wb = WriteBehind(fake_client, name="c", apply_batch=lambda _: None, cache=cache)
    wb.submit("k", {"v": 2})
    assert ({} if broken else {"k": {"v": 2}}) == cache.data
    assert wb.backlog() == 1


@pytest.mark.real
def test_background_thread_applies_writes_and_stop_flushes(real_client, tmp_path) -> None:
    """start() applies writes as they arrive; stop() leaves nothing behind."""
    sink = KVSink(tmp_path / "db.sqlite")
    seen = threading.Event()

    def apply(writes: list[Write]) -> None:
        sink.apply(writes)
        if len(sink.rows()) == 5:
            seen.set()

    wb = WriteBehind(real_client, name="bg", apply_batch=apply, batch_size=2, poll_interval=0.05)
    wb.start()
    expected = submit_all(wb, 5, keys=5)
    assert seen.wait(10)
    expected.update(submit_all(wb, 3, keys=3))
    wb.stop()
    assert expected == sink.rows()
    assert (wb.backlog(), wb.pending()) == (0, 0)


@pytest.mark.real
@pytest.mark.parametrize("mode", ["partial", "before-ack"])
def test_worker_killed_mid_batch_loses_no_acknowledged_write(
    real_client, valkey_server, tmp_path, mode
) -> None:
    """SIGKILL a worker inside its 3rd batch; a new worker reclaims, flushes: the DB is exact."""
    db = tmp_path / "db.sqlite"
    sink = KVSink(db)
    wb = WriteBehind(real_client, name="crash", apply_batch=sink.apply, batch_size=8)
    expected = submit_all(wb, 60, keys=10)
    with subprocess.Popen(
        [sys.executable, __file__, valkey_server.url, str(db), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "at crash point"
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    assert (wb.backlog(), wb.pending()) == (60 - 16, 8)  # 2 batches acked, 1 pending at the dead
    for i in range(60, 65):  # producers go on while the worker is dead
        expected[f"k{i % 10}"] = (str(i), wb.submit(f"k{i % 10}", i))
    assert wb.reclaim(min_idle=0) == 8
    assert wb.flush() == 65 - 16
    assert expected == sink.rows()
    assert (wb.backlog(), wb.pending()) == (0, 0)


def _doomed_worker(url: str, db: str, mode: str) -> None:
    """Apply two batches, then part (or all) of the third, report, and wait to be killed."""
    sink = KVSink(Path(db))

    def apply(writes: list[Write]) -> None:
        if len(sink.batches) == 2:
            sink.apply(writes[: len(writes) // 2] if mode == "partial" else writes)
            print("at crash point", flush=True)  # noqa: T201 - the parent waits for this line
            sys.stdin.read()  # the parent SIGKILLs us here, before the XACK
        sink.apply(writes)

    client = connect(url)
    WriteBehind(client, name="crash", apply_batch=apply, batch_size=8, consumer="doomed").flush()


if __name__ == "__main__":
    _doomed_worker(*sys.argv[1:4])
