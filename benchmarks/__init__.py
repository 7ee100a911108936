"""`make bench`: the helpers measured against raw redis-py and the peer libraries.

Every comparison runs in one process against one server, the contenders
interleaved in rounds; the report gives medians and ratios to a baseline, never
a single timing. See ``docs/benchmarks.md`` for the method and the results.
"""
