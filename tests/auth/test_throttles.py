"""Throttles on password checks: per address, per (account, address), and per account.

Every test speaks from several client addresses to one app with the throttles
on (the other suites turn them off).
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import PASSWORD, Person, register
from tests.fixtures.app import AppFactory, client_for
from tests.fixtures.http import API

OWNER_IP = "10.0.0.1"
WRONG = "not the password"


async def _login(client: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"login": login, "password": password})


async def _login_from(
    app: FastAPI, ip: str, login: str, password: str = PASSWORD
) -> httpx.Response:
    async with client_for(app, ip) as client:
        return await _login(client, login, password)


async def _wrong_from(app: FastAPI, ip: str, login: str, times: int) -> list[int]:
    """`times` wrong passwords for one account from one address; their statuses."""
    async with client_for(app, ip) as client:
        return [(await _login(client, login, WRONG)).status_code for _ in range(times)]


async def _owner(make_client: AppFactory, username: str) -> tuple[FastAPI, Person]:
    """An app with the throttles on and its owner, signed up from `OWNER_IP`."""
    app, client = await make_client(auth_throttle=True, client_ip=OWNER_IP)
    return app, await register(client, username)


async def _change_password(
    app: FastAPI, ip: str, person: Person, current: str, new: str = "a brand new passphrase"
) -> httpx.Response:
    async with client_for(app, ip) as client:
        return await client.post(
            f"{API}/auth/password",
            json={"current_password": current, "new_password": new},
            headers=person.headers,
        )


class TestPerAddress:
    async def test_login_refuses_the_26th_attempt_in_five_minutes(
        self, make_client: AppFactory
    ) -> None:
        _, client = await make_client(auth_throttle=True)
        statuses = [
            (await _login(client, f"ghost{i}", "whatever pw")).status_code for i in range(26)
        ]
        assert statuses[:25] == [401] * 25
        assert statuses[25] == 429

    async def test_answers_with_retry_after(self, make_client: AppFactory) -> None:
        _, client = await make_client(auth_throttle=True)
        for i in range(25):
            await _login(client, f"ghost{i}", "whatever pw")
        response = await _login(client, "ghost", "whatever pw")
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        assert 0 < int(response.headers["retry-after"]) <= 300

    async def test_ipv6_addresses_of_one_network_share_a_budget(
        self, make_client: AppFactory
    ) -> None:
        app, _ = await make_client(auth_throttle=True)
        # A /64 is one host's or one household's: rotating inside it dodges nothing.
        for i in range(25):
            response = await _login_from(app, f"2001:db8:0:1::{i + 1:x}", f"ghost{i}", WRONG)
            assert response.status_code == 401
        refused = await _login_from(app, "2001:db8:0:1:ffff::1", "ghost", WRONG)
        other_network = await _login_from(app, "2001:db8:0:2::1", "ghost", WRONG)
        assert refused.status_code == 429
        assert other_network.status_code == 401

    async def test_sign_up_allows_five_per_ip_per_half_hour(self, make_client: AppFactory) -> None:
        _, client = await make_client(auth_throttle=True)
        for i in range(5):
            await register(client, f"signup_{i}")
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": "signup_6",
                "email": "s6@example.com",
                "password": PASSWORD,
                "display_name": "S",
            },
        )
        assert response.status_code == 429
        assert 25 * 60 < int(response.headers["retry-after"]) <= 30 * 60

    async def test_throttle_off_lets_everything_through(self, client: httpx.AsyncClient) -> None:
        statuses = {(await _login(client, "ghost", "whatever pw")).status_code for _ in range(30)}
        assert statuses == {401}


class TestPerAccountAndAddress:
    async def test_ten_wrong_passwords_stop_that_address_for_that_account(
        self, make_client: AppFactory
    ) -> None:
        app, owner = await _owner(make_client, "dora")
        assert await _wrong_from(app, "10.6.6.6", owner.username, 11) == [401] * 10 + [429]
        refused = await _login_from(app, "10.6.6.6", owner.username)
        assert refused.status_code == 429
        assert 55 * 60 < int(refused.headers["retry-after"]) <= 60 * 60
        # The same address may still try other accounts (under its own limit)...
        assert (await _login_from(app, "10.6.6.6", "someone_else", WRONG)).status_code == 401
        # ...and the owner is not held back anywhere.
        assert (await _login_from(app, OWNER_IP, owner.username)).status_code == 200

    async def test_a_right_password_starts_that_address_afresh(
        self, make_client: AppFactory
    ) -> None:
        app, owner = await _owner(make_client, "ezra")
        assert await _wrong_from(app, OWNER_IP, owner.username, 9) == [401] * 9
        assert (await _login_from(app, OWNER_IP, owner.username)).status_code == 200
        assert await _wrong_from(app, OWNER_IP, owner.username, 9) == [401] * 9
        assert (await _login_from(app, OWNER_IP, owner.username)).status_code == 200


class TestOwnerIsNeverLockedOut:
    async def test_wrong_passwords_from_one_address(self, make_client: AppFactory) -> None:
        app, owner = await _owner(make_client, "fern")
        statuses = await _wrong_from(app, "10.6.6.6", owner.username, 30)
        assert 429 in statuses
        assert (await _login_from(app, OWNER_IP, owner.username)).status_code == 200
        # One address cannot spend the account's budget alone: even an address
        # the owner never used before still gets in.
        assert (await _login_from(app, "10.7.7.7", owner.email)).status_code == 200

    async def test_wrong_passwords_from_many_addresses(self, make_client: AppFactory) -> None:
        app, owner = await _owner(make_client, "gus")
        # The owner also logged in once from a second place of theirs.
        assert (await _login_from(app, "10.0.0.2", owner.username)).status_code == 200
        for i in range(30):
            await _wrong_from(app, f"10.6.{i}.1", owner.username, 2)
        # A distributed guess of one account is still stopped at new addresses...
        new_address = await _login_from(app, "10.9.9.9", owner.username)
        assert new_address.status_code == 429
        assert int(new_address.headers["retry-after"]) > 5 * 60
        # ...but never where the owner has logged in before.
        assert (await _login_from(app, OWNER_IP, owner.username)).status_code == 200
        assert (await _login_from(app, "10.0.0.2", owner.email)).status_code == 200

    async def test_password_change_after_wrong_logins_elsewhere(
        self, make_client: AppFactory
    ) -> None:
        app, owner = await _owner(make_client, "hana")
        for i in range(30):
            await _wrong_from(app, f"10.6.{i}.1", owner.username, 2)
        response = await _change_password(app, OWNER_IP, owner, PASSWORD)
        assert response.status_code == 200, response.text


class TestPerAccount:
    async def test_refuses_the_26th_attempt_from_a_new_address(
        self, make_client: AppFactory
    ) -> None:
        app, first = await make_client(auth_throttle=True)
        person = await register(first, "eve")
        # 25 tries spread over addresses, each address well under its own limit.
        for i in range(25):
            async with client_for(app, f"10.0.{i}.1") as client:
                assert (await _login(client, person.username, "wrong pw!!")).status_code == 401
        async with client_for(app, "10.9.9.9") as fresh:
            response = await _login(fresh, person.username, PASSWORD)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 5 * 60

    async def test_the_owners_logins_do_not_spend_it(self, make_client: AppFactory) -> None:
        app, owner = await _owner(make_client, "ivan")
        for i in range(5):
            for _ in range(6):
                response = await _login_from(app, f"10.0.1.{i}", owner.username)
                assert response.status_code == 200
        # 30 right passwords later, a new address of the owner's still gets in.
        assert (await _login_from(app, "10.9.9.9", owner.username)).status_code == 200

    async def test_wrong_current_passwords_are_limited_per_address(
        self, make_client: AppFactory
    ) -> None:
        app, owner = await _owner(make_client, "jade")
        statuses = [
            (await _change_password(app, "10.6.6.6", owner, WRONG)).status_code for _ in range(11)
        ]
        assert statuses == [403] * 10 + [429]
        # The token holder at the owner's own address is not held back by it.
        response = await _change_password(app, OWNER_IP, owner, PASSWORD)
        assert response.status_code == 200, response.text


class TestWhatThrottlesReveal:
    async def test_an_accounts_username_and_email_are_counted_apart(
        self, make_client: AppFactory
    ) -> None:
        # Were they one count, 10 wrong tries by username then a 429 for the
        # e-mail would tell anyone whose account an e-mail address is.
        app, owner = await _owner(make_client, "kim")
        assert await _wrong_from(app, "10.6.6.6", owner.username, 11) == [401] * 10 + [429]
        by_email = await _login_from(app, "10.6.6.6", owner.email, WRONG)
        by_someone_elses = await _login_from(app, "10.6.6.6", "lee@example.com", WRONG)
        assert by_email.status_code == by_someone_elses.status_code == 401

    async def test_a_spent_budget_tells_nothing_about_other_login_names(
        self, make_client: AppFactory
    ) -> None:
        app, owner = await _owner(make_client, "mia")
        for i in range(13):
            await _wrong_from(app, f"10.6.{i}.1", owner.username, 2)
        assert (await _login_from(app, "10.9.9.9", owner.username, WRONG)).status_code == 429
        assert (await _login_from(app, "10.9.9.9", owner.email, WRONG)).status_code == 401
