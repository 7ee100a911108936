"""The grader's own tools: races, the virtual clock, the CSPRNG tap, time travel, return shapes."""

from __future__ import annotations

import secrets
import time
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from valkey_redis.grading.clock import BusyLoop, VirtualClock
from valkey_redis.grading.context import Ctx, Failure
from valkey_redis.grading.entropy import tapped
from valkey_redis.grading.harness import Backend, Env, keys_of
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import load_exercise
from valkey_redis.grading.shapes import return_problem, shape_problem
from valkey_redis.grading.travel import shift, travel

ROOT = Path(__file__).resolve().parents[1]


def _ctx(**functions: Any) -> Ctx:
    module = types.ModuleType("learner")
    for name, func in functions.items():
        setattr(module, name, func)
    return Ctx(module, Env(Backend("fakeredis")))


def test_keys_of_reads_script_keys_and_multi_key_commands() -> None:
    """Lua scripts name their KEYS, DEL/MGET all arguments, MSET every other one."""
    assert keys_of(("EVALSHA", "abc", 2, "k1", "k2", "arg")) == ("k1", "k2")
    assert keys_of(("DEL", "a", "b")) == ("a", "b")
    assert keys_of(("MSET", "a", "1", "b", "2")) == ("a", "b")
    assert keys_of(("SET", "a", "1", "EX", 5)) == ("a",)
    assert keys_of(("MULTI",)) == ()


def test_interrupted_finds_a_crash_between_set_and_expire() -> None:
    """SET then EXPIRE: dying after the SET leaves the key without a TTL, and it says where."""

    def write(client: redis.Redis) -> None:
        client.set("k", "v")
        client.expire("k", 10)

    ctx = _ctx(write=write)
    with pytest.raises(Failure) as caught:
        interrupted(ctx, setup=lambda: None, mine=lambda: ctx.call("write"))
    assert "k exists without a TTL" in caught.value.got
    assert caught.value.note is not None
    assert "died right after your command 1 (SET k v)" in caught.value.note


def test_interrupted_finds_a_key_expiring_between_set_nx_and_incr() -> None:
    """SET NX EX then INCR: the twin run (key expired after command 1) leaves a bare counter."""

    def hit(client: redis.Redis) -> int:
        client.set("n", 0, ex=10, nx=True)
        return int(client.incr("n"))

    ctx = _ctx(hit=hit)
    with pytest.raises(Failure) as caught:
        interrupted(ctx, setup=lambda: None, mine=lambda: ctx.call("hit"))
    assert caught.value.note is not None
    assert (
        "n expired (or another client deleted it) right after your command 1" in caught.value.note
    )


def test_interrupted_accepts_one_atomic_command() -> None:
    """SET ... EX is one command: no position breaks it, and verify sees every result."""
    results: list[Any] = []

    def write(client: redis.Redis) -> bool:
        return bool(client.set("k", "v", ex=10))

    ctx = _ctx(write=write)
    interrupted(ctx, setup=lambda: None, mine=lambda: ctx.call("write"), verify=results.append)
    assert results == [True]


def test_virtual_clock_replaces_time_in_the_module_only_and_restores_it() -> None:
    """sleep advances virtual time at once; the module gets the real time module back after."""
    module = types.ModuleType("learner")
    module.time = time  # type: ignore[attr-defined]
    module.sleep = time.sleep  # type: ignore[attr-defined]
    clock = VirtualClock()
    with clock.installed(module):
        started = module.time.monotonic()
        module.sleep(5.0)
        module.time.sleep(2.5)
        assert module.time.monotonic() - started == pytest.approx(7.5)
    assert module.time is time
    assert module.sleep is time.sleep
    assert clock.sleeps == [5.0, 2.5]


def test_virtual_clock_stops_a_loop_that_never_sleeps() -> None:
    """A probe sending commands without virtual time passing raises BusyLoop."""
    ctx = _ctx()
    clock = VirtualClock(max_rate=200, slack=5)
    clock.watch(ctx.probe)

    def spin() -> None:
        for _ in range(50):
            ctx.client.get("x")

    with pytest.raises(BusyLoop) as caught:
        spin()
    assert caught.value.commands == 6


def test_virtual_clock_runs_scheduled_actions_when_time_passes() -> None:
    """clock.at(0.2, action) runs once virtual time reaches 0.2 s."""
    clock, seen = VirtualClock(), []
    clock.at(0.2, lambda: seen.append(clock.elapsed))
    clock.sleep(0.1)
    assert seen == []
    clock.sleep(0.15)
    assert seen == [pytest.approx(0.25)]


def test_tap_counts_secrets_bytes_and_replays_a_seeded_stream() -> None:
    """secrets and uuid4 read os.urandom through the tap; a seed makes them reproducible."""
    with tapped() as tap:
        secrets.token_hex(16)
        uuid.uuid4()
    assert tap.read == 32
    with tapped(b"same"):
        first = secrets.token_urlsafe(16)
    with tapped(b"same"):
        again = secrets.token_urlsafe(16)
    with tapped(b"other"):
        other = secrets.token_urlsafe(16)
    assert first == again != other


def test_shift_moves_timestamps_in_any_unit_and_leaves_other_numbers() -> None:
    """Seconds, milliseconds and microseconds near now move back; a count of 3 does not."""
    now = 1_800_000_000.0
    assert shift("1800000000.5", now, 2.0) == "1799999998.5"
    assert shift("1800000000500", now, 2.0) == "1799999998500"
    assert shift("3", now, 2.0) is None
    assert shift("tokens", now, 2.0) is None


def test_travel_shrinks_ttls_drops_expired_keys_and_moves_stored_times() -> None:
    """After travel(5): a 10 s key has about 5 s left, a 3 s key is gone, a stored time moved."""
    env = Env(Backend("fakeredis"))
    secs, _ = env.raw.time()
    env.raw.hset("bucket", mapping={"ts": str(secs), "tokens": "2"})
    env.raw.expire("bucket", 10)
    env.raw.set("short", "x", ex=3)
    travel(env.raw, 5.0)
    assert env.raw.exists("short") == 0
    assert 4_000 < int(env.raw.pttl("bucket")) <= 5_000
    assert env.raw.hgetall("bucket") == {"ts": str(secs - 5), "tokens": "2"}
    env.close()


def test_shapes_name_the_item_that_breaks_the_signature() -> None:
    """A list where a tuple is due, a str key where an int is due, an int where a bool is."""
    problem = return_problem(1, "top_players", [["eve", 50.0]])
    assert problem is not None
    assert problem.startswith("item [0] = ['eve', 50.0] is a list, not tuple[str, float]")
    assert shape_problem({"3": {}}, dict[int, dict[str, Any]]) is not None
    assert return_problem(1, "claim_username", 1) is not None
    assert return_problem(1, "add_points", 15) is None  # an int is a float, as for mypy


def test_a_file_without_py_suffix_loads(tmp_path: Path) -> None:
    """`--file answer.txt` is graded like any other file."""
    path = tmp_path / "answer.txt"
    path.write_text("def f() -> int:\n    return 1\n", encoding="utf-8")
    assert load_exercise(path).f() == 1


def test_mutants_include_the_classic_mistakes() -> None:
    """The reference of exercise 2 yields SET+EXPIRE splits, dropped TTLs and dropped lines."""
    from valkey_redis.grading.mutants import mutants

    source = (ROOT / "exercises" / "solutions" / "exercise_2.py").read_text(encoding="utf-8")
    found = mutants(source, 2)
    ops = {m.ident.split(":")[2] for m in found}
    assert {"drop", "split-ttl", "drop-kw", "compare"} <= ops
    split = next(m for m in found if m.ident.startswith("ex2:get_product:split-ttl"))
    assert "client.expire(key, expiry)" in split.text
    assert len({m.ident for m in found}) == len(found)


def test_grader_audit_smoke_kills_every_mutant_of_one_function() -> None:
    """`grader-audit` on should_refresh_early (fakeredis, one worker) kills all its mutants."""
    from valkey_redis.grading.audit import audit

    lines: list[str] = []
    status = audit(
        ROOT, numbers=[6], jobs=1, which="fakeredis", only="should_refresh_early", out=lines.append
    )
    assert status == 0, "\n".join(lines)
    assert any(line.startswith("exercise 6: ") and "(100%)" in line for line in lines), lines


def test_virtual_clock_ends_a_wait_without_deadline() -> None:
    """Sleeping past the horizon raises EndlessWait instead of spinning forever."""
    from valkey_redis.grading.clock import EndlessWait

    clock = VirtualClock(horizon=1.0)

    def wait_forever() -> None:
        while True:
            clock.sleep(0.25)

    with pytest.raises(EndlessWait):
        wait_forever()
    assert clock.elapsed == pytest.approx(1.25)


def test_signature_problem_names_a_changed_default_or_parameter() -> None:
    """A default, a name or a missing parameter that differs from the stub is reported."""
    from valkey_redis.grading.shapes import signature_problem

    def right(remaining_ttl: float, delta: float, beta: float = 1.0, rand: Any = None) -> bool:
        return False

    def other_default(remaining_ttl: float, delta: float, beta: float = 2.0) -> bool:
        return False

    def renamed(ttl: float, delta: float) -> bool:
        return False

    import random

    def same(
        remaining_ttl: float, delta: float, beta: float = 1.0, rand: Any = random.random
    ) -> bool:
        return False

    assert signature_problem(6, "should_refresh_early", same) is None
    assert signature_problem(6, "should_refresh_early", right) is not None  # rand default
    assert "beta is 2.0, not 1.0" in str(
        signature_problem(6, "should_refresh_early", other_default)
    )
    assert "is ttl, not remaining_ttl" in str(signature_problem(6, "should_refresh_early", renamed))
