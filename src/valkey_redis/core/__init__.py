"""The I/O-free core shared by the sync helpers and ``valkey_redis.aio``: the one truth.

Use this when you read or change what a helper *does*: key building, entry
encoding, validation, script arguments, reply parsing and the decisions (XFetch,
single-flight, fencing, limiter results) live here and in the cache package's
``_core``, ``_store``, ``_fill``, ``_batch``, ``tags`` and ``stampede``. The faces
-- ``valkey_redis.Cache``/``Lock``/... (blocking) and ``valkey_redis.aio.*``
(awaiting) -- only send commands.

Not for: I/O. Nothing here opens a socket, sleeps, starts a thread or touches an
event loop; the modules are ``flow`` (the effects), ``scripts`` (the Lua files),
``send`` (outage rules, pipelines), ``guard`` (breaker and call-budget
decisions of both connection guards), ``lock``, ``ratelimit``, ``session`` and
``write_behind``.

How it fails: it does not, on its own -- errors come from the runners
(:mod:`valkey_redis._run`, :mod:`valkey_redis.aio._run`), which throw them into
the flow at the ``yield`` that sent the command, so the flow's cleanup runs.

Design note -- why a sans-IO core of generator *flows*, not the other two ways:

- **Generating the sync face from the async source** (httpcore's unasync) keeps
  two copies of every line in the tree and needs a build step and a CI check that
  they agree; a reader of the sync code reads machine output.
- **Mirrored packages** (limits' ``limits/aio``) write each helper twice by hand,
  which is exactly the drift this project must not have.
- **A sans-IO core** (h11) writes the logic once. Our multi-step operations -- a
  cache fill with its lock, polling and release; a lock acquire with backoff and
  the lost-reply check -- are generators that ``yield`` a command (or a sleep, a
  loader call, a merge with concurrent callers) and receive its reply. Two small
  runners perform the effects, one blocking and one awaiting. Exceptions,
  cancellation included, are thrown back in at the ``yield``, so cleanup (release
  the fill lock, give back a lock we may hold) is written once too. Single-command
  hot paths (a cache hit, a rate-limit hit) skip the generator: the face sends the
  one command and hands the reply to a plain core function, because a generator
  costs about a microsecond there.
"""
