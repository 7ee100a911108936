"""Numbered, narrated examples; run one with ``make example-N`` or all with ``make examples``.

Each example is a script with a typed ``main()`` that prints what it does, cleans
up its own keys, and exits 0. :mod:`valkey_redis.examples.runner` picks the server:
the configured URL when it answers, else an embedded Valkey, else fakeredis.
"""
