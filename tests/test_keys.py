"""Key building: escaping keeps namespaces apart, hash tags stay ours, argument keys are stable."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from valkey_redis.keys import argument_key, canonical_json, escape, join, tagged


def test_namespaces_cannot_collide() -> None:
    """Namespace x + key y:z differs from namespace x:y + key z."""
    assert join("x", "y:z") != join("x:y", "z")


@given(
    st.lists(st.text(min_size=1), min_size=2, max_size=4),
    st.lists(st.text(min_size=1), min_size=2, max_size=4),
)
def test_join_is_injective(left: list[str], right: list[str]) -> None:
    """Different part lists never give the same key."""
    if left != right:
        assert join(*left) != join(*right)


def test_user_parts_cannot_steer_the_hash_slot() -> None:
    """Braces in a user part are escaped, so only our own tag has braces."""
    key = tagged("lock", "a}{b", "{evil}")
    assert key == "lock:{a%7D%7Bb}:%7Bevil%7D"
    assert key.count("{") == 1
    assert key.count("}") == 1


def test_bad_parts_are_rejected() -> None:
    """Empty strings and non-str/int parts fail loudly."""
    with pytest.raises(ValueError, match="empty"):
        join("ns", "")
    with pytest.raises(TypeError, match="str or int"):
        escape(True)
    with pytest.raises(TypeError, match="str or int"):
        join("ns", 1.5)  # type: ignore[arg-type]


def _load(user_id: int, *, active: bool = True) -> None:
    return None


def test_argument_key_binds_positional_keyword_and_defaults() -> None:
    """f(1), f(user_id=1) and f(1, active=True) share one key."""
    first = argument_key(_load, (1,), {})
    assert first == argument_key(_load, (), {"user_id": 1})
    assert first == argument_key(_load, (1,), {"active": True})
    assert first != argument_key(_load, (2,), {})


def test_argument_key_is_stable_across_processes() -> None:
    """The key does not depend on Python's per-process hash seed."""
    code = (
        "from valkey_redis.keys import argument_key\n"
        "def f(a, b): pass\n"
        "print(argument_key(f, ('x', {'k': [1, 2]}), {}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_argument_key_hashes_long_arguments_and_refuses_objects() -> None:
    """Long argument lists become a digest; arbitrary objects are a TypeError."""
    assert argument_key(_load, ("x" * 500,), {}).startswith("sha256=")
    with pytest.raises(TypeError, match="cannot build a cache key"):
        argument_key(_load, (object(),), {})


def test_canonical_json_supports_dataclasses_and_sets() -> None:
    """Dataclasses and sets serialize deterministically."""

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    assert canonical_json({"b": Point(1, 2), "a": {3, 1}}) == '{"a":[1,3],"b":{"x":1,"y":2}}'
