"""The checks, one module per exercise; importing this package registers them all.

Each check is named for the behaviour it verifies and calls only its own
task's function (state is set up and inspected with the grader's own client),
so a learner can solve the tasks of an exercise one at a time.
"""

from valkey_redis.grading.checks import (
    ex1,
    ex2,
    ex3,
    ex4,
    ex5,
    ex5_clock,
    ex5_time,
    ex6,
    ex6_lock,
    ex7,
    ex7_fallback,
    ex7_faults,
    ex8,
    ex9,
    ex9_reclaim,
    ex10,
    ex11,
    ex12,
    ex13,
    failures,
    gaps,
    gaps_more,
    timing,
)

__all__ = [
    "ex1",
    "ex2",
    "ex3",
    "ex4",
    "ex5",
    "ex5_clock",
    "ex5_time",
    "ex6",
    "ex6_lock",
    "ex7",
    "ex7_fallback",
    "ex7_faults",
    "ex8",
    "ex9",
    "ex9_reclaim",
    "ex10",
    "ex11",
    "ex12",
    "ex13",
    "failures",
    "gaps",
    "gaps_more",
    "timing",
]
