"""The valkey-redis command: local servers, examples, and the exercise grader.

The make targets call this; run `valkey-redis --help` for the list.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from valkey_redis import grader, server

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _infra(args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[int], str]] = {
        "up": server.daemon_start,
        "down": server.daemon_stop,
        "status": server.daemon_status,
    }
    try:
        print(actions[args.action](args.port))
    except server.ServerError as exc:
        print(f"infra {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from valkey_redis import cluster  # noqa: PLC0415 - keep `--help` fast

    try:
        if args.action == "up":
            print(cluster.cluster_up(args.port, replicas=args.replicas))
        elif args.action == "down":
            print(cluster.cluster_down())
        else:
            print(cluster.cluster_status(port=args.port))
    except server.ServerError as exc:
        print(f"cluster {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _sentinel(args: argparse.Namespace) -> int:
    from valkey_redis import sentinel  # noqa: PLC0415 - keep `--help` fast

    try:
        if args.action == "up":
            print(sentinel.sentinel_up(args.port, args.sentinel_port))
        elif args.action == "down":
            print(sentinel.sentinel_down())
        else:
            print(sentinel.sentinel_status(sentinel_port=args.sentinel_port))
    except server.ServerError as exc:
        print(f"sentinel {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _examples(args: argparse.Namespace) -> int:
    from valkey_redis.examples import runner  # noqa: PLC0415 - keep `--help` fast

    return runner.main([str(n) for n in args.numbers])


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="valkey-redis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    infra = commands.add_parser("infra", help="a local Valkey daemon on 127.0.0.1")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument("--port", type=int, default=server.DEFAULT_PORT)
    infra.set_defaults(handler=_infra)

    clus = commands.add_parser("cluster", help="a local Valkey Cluster on 127.0.0.1:7000+")
    clus.add_argument("action", choices=["up", "down", "status"])
    clus.add_argument("--port", type=int, default=7000, help="first node's port")
    clus.add_argument("--replicas", type=int, default=1, help="replicas per primary (up)")
    clus.set_defaults(handler=_cluster)

    sent = commands.add_parser(
        "sentinel", help="a primary, a replica and three sentinels on 127.0.0.1 (HA)"
    )
    sent.add_argument("action", choices=["up", "down", "status"])
    sent.add_argument("--port", type=int, default=6390, help="the primary's port (up)")
    sent.add_argument("--sentinel-port", type=int, default=26390, help="first sentinel's port")
    sent.set_defaults(handler=_sentinel)

    examples = commands.add_parser("examples", help="run the numbered examples")
    examples.add_argument("numbers", nargs="*", type=int)
    examples.set_defaults(handler=_examples)

    grader.register(commands)  # grade, hint, watch, reset, check-exercises
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``valkey-redis`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
