"""Exercise 13 — the web shop: cache a slow endpoint, over HTTP.

Before you start: run `make app`, open a product twice and look at `X-Cache` and
the keyspace on the home page; read docs/capstone.md. Then replace each
`raise NotImplementedError` and run `make grade EX=13`. Stuck? `make hint EX=13`.
Solved? Compare with exercises/solutions/exercise_13.py.

The grader wraps your three functions in FastAPI routes (`build_app` in
valkey_redis/shop/exercise.py, given) and talks to them over HTTP (httpx,
in-process). `client` is a redis-py client with `decode_responses=True`; `db` is
the shop's slow database (`ShopData` there: `db.get(pid)`, `db.set_price(pid,
price)`, `db.orders(user)`): every `db.get` and `db.orders` call is counted, and a
cached answer must not make one.

Tasks:
1. get_product  — GET /products/{pid}: cache-aside, X-Cache, an ETag from the content, 304.
2. update_price — PUT /products/{pid}: write the database, then invalidate the cached copy.
3. my_orders    — GET /orders for the user in the X-User header: cached per user, private.
"""

from __future__ import annotations

import redis
from fastapi import Response

from valkey_redis.shop.exercise import ShopData

TTL = 300  # seconds a cached answer lives


def get_product(client: redis.Redis, db: ShopData, pid: int, if_none_match: str | None) -> Response:
    """GET /products/{pid}: the product as JSON, through the cache.

    - Cache-aside: keep the product's JSON text at the key ``product:{pid}`` with
      a TTL of ``TTL`` seconds (set in the same command as the value). A request
      finding it there answers it without calling ``db.get`` and sends the header
      ``X-Cache: HIT``; otherwise call ``db.get(pid)``, store the JSON, and send
      ``X-Cache: MISS``.
    - ``ETag``: a quoted hash of the JSON you send (e.g. ``hashlib.sha256``), so
      the same content always has the same ETag -- after the entry expired and was
      loaded again too -- and a different content a different one.
    - ``if_none_match`` is the request's ``If-None-Match`` header (None when
      absent; it may list several ETags, separated by commas). When it names the
      current ETag, answer ``304`` with an empty body, still with ``ETag`` and
      ``X-Cache``. Otherwise answer ``200`` with the JSON
      (``Response(text, media_type="application/json", headers=...)``).
    - An unknown id (``db.get`` gives None): ``404``.
    """
    # TODO: GET product:{pid}; on a miss db.get + SET ... EX TTL; then the headers.
    raise NotImplementedError


def update_price(client: redis.Redis, db: ShopData, pid: int, price: float) -> Response:
    """PUT /products/{pid} with ``{"price": ...}``: change the price, then invalidate.

    - Write the database first (``db.set_price(pid, price)``), then delete
      ``product:{pid}``, so the next GET loads the new price. Not the other way
      round: a GET between your delete and your write would cache the old price
      again, for a whole TTL.
    - Leave every other product's cached entry alone.
    - Answer ``200`` with ``{"id": pid, "price": price}``; ``404`` (and no change)
      when ``db.set_price`` returns False.
    """
    # TODO: db.set_price, then DEL product:{pid}.
    raise NotImplementedError


def my_orders(client: redis.Redis, db: ShopData, user: str) -> Response:
    """GET /orders: the orders of ``user`` (the ``X-User`` header) as JSON, cached.

    - Cache the JSON of ``db.orders(user)`` in Valkey with a TTL of ``TTL`` seconds,
      under a key of that user's own: two users must never share an entry (and any
      app process on the same Valkey finds it: not a Python dict).
    - Send ``X-Cache: HIT`` or ``MISS`` as for products, and ``Cache-Control:
      private``, so that no shared proxy keeps one user's orders for another.
    """
    # TODO: a key per user, GET / db.orders + SET ... EX TTL, and the headers.
    raise NotImplementedError
