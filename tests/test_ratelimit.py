"""Rate limiters: the shared shape, limits, costs, refill, TTLs, headers and bad input.

Most tests run on fakeredis and real Valkey (the ``client`` fixture). Where time
must pass, tests either poll the real server with a deadline or pin the clock with
the limiters' private ``_decide(..., now=...)`` hook, which replaces the server's
``TIME`` inside the script and exists for tests only.
"""

from __future__ import annotations

import math
import time

import pytest
import redis

from valkey_redis import (
    GCRA,
    FixedWindow,
    RateLimitResult,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    keys,
)
from valkey_redis.client import connect
from valkey_redis.ratelimit import rate_limit_headers
from valkey_redis.server import free_port

ALGORITHMS = [FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA]
Limiter = FixedWindow | SlidingWindowLog | SlidingWindowCounter | TokenBucket | GCRA
T0 = 1_700_000_000_000_000  # a pinned server time, in microseconds
WINDOW_US = 10_000_000  # 10 s


def calm_window(client: redis.Redis) -> int:
    """A window length (s) whose current clock-aligned window has over a minute left."""
    seconds, _ = client.time()
    return next(w for w in range(3600, 3700) if w - seconds % w > 60)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_allows_exactly_limit_then_denies_with_retry_after(client, algorithm) -> None:
    """A fresh key allows ``limit`` hits; the next is denied, remaining 0, retry_after > 0."""
    limiter = algorithm(client, limit=5, window=calm_window(client))
    results = [limiter.hit("user:1") for _ in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0]
    assert [r.retry_after for r in results[:5]] == [0.0] * 5
    denied = results[-1]
    assert denied.retry_after > 0
    assert denied.reset_after >= denied.retry_after
    assert denied.limit == 5
    assert not denied.fallback


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_takes_several_units_and_a_too_large_cost_is_refused_whole(client, algorithm) -> None:
    """cost=3 takes three units; a cost above what is left is denied and takes nothing."""
    limiter = algorithm(client, limit=10, window=calm_window(client))
    assert limiter.hit("k", cost=3).remaining == 7
    assert limiter.hit("k", cost=6).remaining == 1
    refused = limiter.hit("k", cost=2)
    assert (refused.allowed, refused.remaining) == (False, 1)
    assert refused.retry_after > 0
    assert (limiter.hit("k").allowed, limiter.peek("k").remaining) == (True, 0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_keys_are_independent(client, algorithm) -> None:
    """Exhausting one key leaves another key, and another limiter's window, untouched."""
    window = calm_window(client)
    limiter = algorithm(client, limit=2, window=window)
    for _ in range(3):
        limiter.hit("alice")
    assert not limiter.peek("alice").allowed
    assert limiter.peek("bob").remaining == 2
    assert algorithm(client, limit=2, window=window + 1).peek("alice").remaining == 2
    assert algorithm(client, limit=2, window=window, prefix="other").peek("alice").remaining == 2


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_peek_consumes_nothing_and_writes_nothing(client, algorithm) -> None:
    """peek reports the state without changing it, and creates no key."""
    limiter = algorithm(client, limit=3, window=calm_window(client))
    assert RateLimitResult(True, 3, 3, 0.0, 0.0) == limiter.peek("k")
    assert client.exists(limiter.key_for("k")) == 0
    limiter.hit("k", cost=2)
    assert [limiter.peek("k").remaining for _ in range(3)] == [1, 1, 1]
    assert limiter.hit("k").allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_reset_restores_the_full_limit(client, algorithm) -> None:
    """After reset, a spent key has its whole limit again."""
    limiter = algorithm(client, limit=2, window=calm_window(client))
    limiter.hit("k", cost=2)
    limiter.reset("k")
    assert client.exists(limiter.key_for("k")) == 0
    assert limiter.hit("k").remaining == 1


def test_every_key_written_has_a_ttl_no_longer_than_it_needs(client) -> None:
    """Each limiter's key expires, within two windows at most."""
    window = calm_window(client)
    for algorithm in ALGORITHMS:
        limiter = algorithm(client, limit=4, window=window)
        for user in ("a", "b:c", "{d}"):
            limiter.hit(user)
            limiter.hit(user, cost=3)
            limiter.hit(user)  # denied: must not leave a key without TTL either
    names = sorted(client.scan_iter(match="ratelimit:*"))
    assert len(names) == 15
    ttls = {name: client.pttl(name) for name in names}
    assert {n: t for n, t in ttls.items() if not 0 < t <= 2 * window * 1000} == {}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_keys_are_built_by_keys_tagged(fake_client, algorithm) -> None:
    """key_for is keys.tagged(prefix, user key, algorithm, limit/window), escaping included."""
    limiter = algorithm(fake_client, limit=7, window=0.5, prefix="api:v1")
    name = limiter._algorithm
    for user in ("u", "a:b", "{x}", "100%", "é"):
        assert limiter.key_for(user) == keys.tagged("api:v1", user, name, "7/0.5s")


def test_one_users_keys_share_a_cluster_slot(client) -> None:
    """All algorithms' keys for one user carry the same escaped hash tag."""
    window = calm_window(client)
    names = [algorithm(client, limit=1, window=window).key_for("u:{1}") for algorithm in ALGORITHMS]
    assert {"ratelimit:{u%3A%7B1%7D}"} == {name.rsplit("}", 1)[0] + "}" for name in names}
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_lost_script_is_reloaded_and_the_hit_counts_once(client, algorithm) -> None:
    """After SCRIPT FLUSH, the next hit gets NOSCRIPT, re-sends with EVAL, and counts once."""
    limiter = algorithm(client, limit=5, window=calm_window(client))
    limiter.hit("k")
    client.script_flush()
    assert limiter.hit("k").remaining == 3
    assert limiter.peek("k").remaining == 3


@pytest.mark.real
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_spent_key_becomes_allowed_again(real_client, algorithm) -> None:
    """With a 0.3 s window, polling after retry_after gets a hit through again."""
    limiter = algorithm(real_client, limit=2, window=0.3)
    limiter.hit("k", cost=2)
    result = limiter.hit("k")
    deadline = time.monotonic() + 5
    while not result.allowed and time.monotonic() < deadline:
        assert result.retry_after > 0
        time.sleep(result.retry_after)
        result = limiter.hit("k")
    assert result.allowed


def test_fixed_window_lets_twice_the_limit_through_at_a_boundary(client) -> None:
    """limit hits just before a window boundary and limit just after all pass (the known flaw)."""
    fixed = FixedWindow(client, limit=5, window=10)
    end = T0 - T0 % WINDOW_US + WINDOW_US
    before = [fixed._decide("k", 1, dry=False, now=end - 1) for _ in range(5)]
    after = [fixed._decide("k", 1, dry=False, now=end) for _ in range(5)]
    assert sum(r.allowed for r in before + after) == 10
    assert before[-1].reset_after == 1e-6
    assert not fixed._decide("k", 1, dry=False, now=end).allowed


def test_fixed_window_keeps_one_window_in_its_key(client) -> None:
    """A window's first hit drops what an older window left (an old-layout hash included)."""
    fixed = FixedWindow(client, limit=5, window=10)
    name = fixed.key_for("k")
    start = T0 - T0 % WINDOW_US
    client.hset(name, mapping={"index": 1, "used": 4})  # the layout of releases before 0.3
    client.pexpire(name, 60_000)
    first = [fixed._decide("k", 1, dry=False, now=start + 5) for _ in range(3)]
    later = [fixed._decide("k", 1, dry=False, now=start + WINDOW_US + 5) for _ in range(6)]
    assert [r.remaining for r in first] == [4, 3, 2]
    assert [r.allowed for r in later] == [True] * 5 + [False]
    assert client.hlen(name) == 1  # only the current window's count is left
    assert 0 < client.pttl(name) <= 10_000  # and the key ends with that window


def test_a_denied_fixed_window_hit_takes_nothing(client) -> None:
    """A hit that does not fit leaves the count as it was (the script gives its units back)."""
    fixed = FixedWindow(client, limit=5, window=10)
    now = T0 - T0 % WINDOW_US + 7
    assert fixed._decide("k", 3, dry=False, now=now).remaining == 2
    assert not fixed._decide("k", 4, dry=False, now=now).allowed
    assert fixed._decide("k", 2, dry=False, now=now).remaining == 0
    assert not fixed._decide("k", 9, dry=False, now=now + WINDOW_US).allowed  # over the limit
    assert fixed._decide("k", 5, dry=False, now=now + WINDOW_US).remaining == 0


def test_sliding_log_refuses_the_boundary_burst(client) -> None:
    """The same burst through the sliding log: only the first limit pass, until a window later."""
    log = SlidingWindowLog(client, limit=5, window=10)
    end = T0 - T0 % WINDOW_US + WINDOW_US
    results = [log._decide("k", 1, dry=False, now=end - 1) for _ in range(5)]
    results += [log._decide("k", 1, dry=False, now=end) for _ in range(5)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 5
    assert results[-1].retry_after == 10 - 1e-6
    assert log._decide("k", 1, dry=False, now=end - 1 + WINDOW_US).allowed


def test_sliding_counter_weights_the_previous_window(client) -> None:
    """Half-way into the next window, half of the previous window's count still counts."""
    counter = SlidingWindowCounter(client, limit=10, window=10)
    start = T0 - T0 % WINDOW_US
    assert counter._decide("k", 10, dry=False, now=start).allowed
    half = counter._decide("k", 1, dry=True, now=start + WINDOW_US + WINDOW_US // 2)
    assert (half.allowed, half.remaining) == (True, 5)
    assert counter._decide("k", 5, dry=False, now=start + WINDOW_US + WINDOW_US // 2).allowed
    refused = counter._decide("k", 1, dry=False, now=start + WINDOW_US + WINDOW_US // 2)
    assert (refused.allowed, refused.remaining) == (False, 0)
    assert refused.retry_after == 1.0  # 5 * (1 - t) + 5 + 1 <= 10 once t >= 0.6 of the window


@pytest.mark.parametrize("algorithm", [TokenBucket, GCRA])
def test_bucket_refills_one_unit_per_interval(client, algorithm) -> None:
    """limit 4 per 10 s: empty after a burst of 4, one unit back every 2.5 s, full after 10 s."""
    limiter = algorithm(client, limit=4, window=10)
    assert limiter._decide("k", 4, dry=False, now=T0).allowed
    denied = limiter._decide("k", 1, dry=False, now=T0 + 1)
    assert (denied.allowed, denied.retry_after, denied.reset_after) == (False, 2.499999, 9.999999)
    assert limiter._decide("k", 1, dry=True, now=T0 + 2_500_000).remaining == 1
    assert limiter._decide("k", 1, dry=True, now=T0 + WINDOW_US).remaining == 4
    assert limiter._decide("k", 1, dry=True, now=T0 + 5 * WINDOW_US).remaining == 4


def test_headers_for_allowed_and_denied_results() -> None:
    """The draft's RateLimit and RateLimit-Policy fields; Retry-After only when denied."""
    allowed = RateLimitResult(True, 10, 7, 2.1, 0.0)
    assert rate_limit_headers(allowed, window=60) == {
        "RateLimit": '"default";r=7;t=3',
        "RateLimit-Policy": '"default";q=10;w=60',
    }
    denied = RateLimitResult(False, 10, 0, 59.5, 0.2)
    assert rate_limit_headers(denied, window=60, policy="per-key") == {
        "RateLimit": '"per-key";r=0;t=1',  # t agrees with Retry-After, not the full reset
        "RateLimit-Policy": '"per-key";q=10;w=60',
        "Retry-After": "1",
    }


def test_headers_without_a_window_leave_out_w_and_round_sub_second_windows_up() -> None:
    """w is optional (left out without a window) and never 0 (a 0.5 s window says 1)."""
    result = RateLimitResult(True, 3, 2, 0.4, 0.0)
    assert rate_limit_headers(result)["RateLimit-Policy"] == '"default";q=3'
    assert rate_limit_headers(result, window=0.5)["RateLimit-Policy"] == '"default";q=3;w=1'


def test_headers_quote_the_policy_name_as_a_structured_field_string() -> None:
    """A quote or backslash in the policy name is escaped; control characters are refused."""
    result = RateLimitResult(True, 3, 2, 1.0, 0.0)
    headers = rate_limit_headers(result, policy='a"b\\c')
    assert headers["RateLimit"] == '"a\\"b\\\\c";r=2;t=1'
    for bad in ("", "line\nbreak", "caf\u00e9"):
        with pytest.raises(ValueError, match="policy"):
            rate_limit_headers(result, policy=bad)


def test_legacy_headers_are_the_old_three_fields() -> None:
    """legacy=True gives RateLimit-Limit/-Remaining/-Reset (drafts -00 to -06) and Retry-After."""
    denied = RateLimitResult(False, 10, 0, 59.5, 0.2)
    assert rate_limit_headers(denied, legacy=True) == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "Retry-After": "1",
    }


def test_limiter_headers_follow_a_real_denial(client) -> None:
    """limiter.headers turns a hit's result into headers that match it, window included."""
    limiter = GCRA(client, limit=1, window=30)
    limiter.hit("k")
    denied = limiter.hit("k")
    headers = limiter.headers(denied)
    retry = str(math.ceil(denied.retry_after))
    assert headers == {
        "RateLimit": f'"default";r=0;t={retry}',
        "RateLimit-Policy": '"default";q=1;w=30',
        "Retry-After": retry,
    }
    assert limiter.headers(denied, legacy=True)["RateLimit-Remaining"] == "0"
    assert "Retry-After" not in limiter.headers(limiter.peek("other"))


def test_results_are_frozen() -> None:
    """A RateLimitResult cannot be altered after the fact."""
    result = RateLimitResult(True, 1, 0, 1.0, 0.0)
    with pytest.raises(AttributeError):
        result.allowed = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"limit": 0, "window": 1}, ValueError),
        ({"limit": -1, "window": 1}, ValueError),
        ({"limit": 1.5, "window": 1}, TypeError),
        ({"limit": True, "window": 1}, TypeError),
        ({"limit": 1, "window": 0}, ValueError),
        ({"limit": 1, "window": -5}, ValueError),
        ({"limit": 1, "window": float("nan")}, ValueError),
        ({"limit": 1, "window": float("inf")}, ValueError),
        ({"limit": 1, "window": 2e9}, ValueError),
        ({"limit": 1, "window": "60"}, TypeError),
        ({"limit": 2000, "window": 0.001}, ValueError),
        ({"limit": 1, "window": 1, "prefix": ""}, ValueError),
        ({"limit": 1, "window": 1, "prefix": 7}, TypeError),
        ({"limit": 1, "window": 1, "on_error": "ignore"}, ValueError),
    ],
)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bad_configuration_is_refused(fake_client, algorithm, options, error) -> None:
    """Nonsense limits, windows, prefixes and policies raise at construction."""
    with pytest.raises(error):
        algorithm(fake_client, **options)


@pytest.mark.parametrize(
    ("key", "cost", "error"),
    [
        ("", 1, ValueError),
        (42, 1, TypeError),
        (b"k", 1, TypeError),
        ("k", 0, ValueError),
        ("k", -1, ValueError),
        ("k", 4, ValueError),
        ("k", 1.0, TypeError),
    ],
)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bad_hits_are_refused_before_any_network_call(algorithm, key, cost, error) -> None:
    """Empty or non-str keys and costs outside 1..limit raise, even with no server at all."""
    limiter = algorithm(connect(f"redis://127.0.0.1:{free_port()}/0", retries=0), limit=3, window=1)
    with pytest.raises(error):
        limiter.hit(key, cost=cost)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_constructor_never_touches_the_network(algorithm) -> None:
    """A limiter can be built while nothing listens on the server's port."""
    limiter = algorithm(connect(f"redis://127.0.0.1:{free_port()}/0"), limit=3, window=1)
    assert f"{algorithm.__name__}(limit=3, window=1)" == repr(limiter)
