"""POST /login, GET /me, POST /logout, POST /logout-everywhere: sessions in a safe cookie."""

from __future__ import annotations

import httpx
import pytest
from tests.shop.conftest import OpenShop, app_of, client_for

pytestmark = pytest.mark.anyio


async def _login(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.post("/login", json={"username": user, "password": password})


def _cookie_attributes(response: httpx.Response) -> list[str]:
    header = response.headers["set-cookie"]
    return [part.strip().lower() for part in header.split(";")]


async def test_login_sets_an_httponly_lax_cookie_without_secure_over_http(
    open_shop: OpenShop,
) -> None:
    """Over http the cookie is HttpOnly, SameSite=Lax, Path=/ and not Secure; /me knows alice."""
    async with open_shop() as (_, client):
        response = await _login(client, "alice", "wonderland")
        me = await client.get("/me")
    attributes = _cookie_attributes(response)
    assert response.status_code == 200
    assert attributes[0].startswith("sid=")
    assert {"httponly", "samesite=lax", "path=/"} <= set(attributes)
    assert "secure" not in attributes
    assert me.json() == {"id": response.json()["id"], "username": "alice", "admin": True}


async def test_cookie_is_secure_over_https(open_shop: OpenShop) -> None:
    """Served over https, the session cookie carries Secure."""
    async with open_shop(https=True) as (_, client):
        response = await _login(client, "bob", "builder")
    assert "secure" in _cookie_attributes(response)
    assert response.json()["admin"] is False


async def test_wrong_password_and_unknown_user_are_401_without_a_cookie(
    open_shop: OpenShop,
) -> None:
    """Bad credentials get 401 and no session."""
    async with open_shop() as (_, client):
        wrong = await _login(client, "alice", "builder")
        nobody = await _login(client, "mallory", "wonderland")
        me = await client.get("/me")
    assert (wrong.status_code, nobody.status_code, me.status_code) == (401, 401, 401)
    assert "set-cookie" not in wrong.headers


async def test_logging_in_again_rotates_the_session_id(open_shop: OpenShop) -> None:
    """A second login gives a new id; the old id no longer works (no session fixation)."""
    async with open_shop() as (shop, client):
        await _login(client, "alice", "wonderland")
        old = client.cookies["sid"]
        await _login(client, "alice", "wonderland")
        new = client.cookies["sid"]
        still = await client.get("/me")
        client.cookies.set("sid", old)
        replay = await client.get("/me")
        live = await shop.sessions.get(old)
    assert new != old
    assert still.status_code == 200
    assert replay.status_code == 401
    assert live is None


async def test_login_as_another_user_ends_the_previous_session(open_shop: OpenShop) -> None:
    """bob logging in on alice's browser gets his own session; alice's id is dead."""
    async with open_shop() as (shop, client):
        await _login(client, "alice", "wonderland")
        alice_sid = client.cookies["sid"]
        await _login(client, "bob", "builder")
        me = await client.get("/me")
        alice = await shop.sessions.get(alice_sid)
    assert me.json()["username"] == "bob"
    assert alice is None


async def test_logout_ends_this_session_only(open_shop: OpenShop) -> None:
    """POST /logout ends the current session; another device stays logged in."""
    async with open_shop() as (_, laptop), client_for(app_of(laptop)) as phone:
        await _login(laptop, "bob", "builder")
        await _login(phone, "bob", "builder")
        out = await laptop.post("/logout")
        assert out.json() == {"logged_out": True}
        assert (await laptop.get("/me")).status_code == 401
        assert (await phone.get("/me")).status_code == 200


async def test_logout_everywhere_ends_every_session_of_the_user(open_shop: OpenShop) -> None:
    """All of bob's sessions end; alice's does not."""
    async with open_shop() as (_, laptop):
        app = app_of(laptop)
        async with client_for(app) as phone, client_for(app) as other:
            await _login(laptop, "bob", "builder")
            await _login(phone, "bob", "builder")
            await _login(other, "alice", "wonderland")
            ended = await laptop.post("/logout-everywhere")
            assert ended.json() == {"sessions_ended": 2}
            assert (await phone.get("/me")).status_code == 401
            assert (await laptop.get("/me")).status_code == 401
            assert (await other.get("/me")).status_code == 200


async def test_logout_everywhere_needs_a_login(open_shop: OpenShop) -> None:
    """Anonymous callers get 401."""
    async with open_shop() as (_, client):
        response = await client.post("/logout-everywhere")
    assert response.status_code == 401


async def test_forged_session_id_is_anonymous(open_shop: OpenShop) -> None:
    """A made-up id in the cookie is not a session, and does not become one."""
    async with open_shop() as (shop, client):
        client.cookies.set("sid", "abcd." + "A" * 43)
        me = await client.get("/me")
        found = await shop.sessions.get("abcd." + "A" * 43)
    assert me.status_code == 401
    assert found is None
