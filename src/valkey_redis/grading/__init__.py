"""The exercise grader: behaviour checks run against any implementation of an exercise.

Use it through ``make grade`` / ``valkey-redis grade`` (see :mod:`valkey_redis.grader`);
the pieces, in reading order:

- :mod:`~valkey_redis.grading.harness` — traced clients on a fresh server per check.
- :mod:`~valkey_redis.grading.context` — what a check sees; races and threads.
- :mod:`~valkey_redis.grading.checks` — the checks, one module per exercise.
- :mod:`~valkey_redis.grading.runner` — load a file by path, run checks, statuses.
- :mod:`~valkey_redis.grading.report` — the report a learner reads.
- :mod:`~valkey_redis.grading.workspace`, :mod:`~valkey_redis.grading.hints`,
  :mod:`~valkey_redis.grading.maintenance` — paths and servers, hints, CI checks.

Not for: grading a server you care about; checks empty the server they use.
"""
