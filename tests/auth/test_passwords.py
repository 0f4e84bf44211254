import re

import pytest
from argon2 import extract_parameters

from minifb.auth.passwords import PasswordHasher, check_password_policy

STRONG = "correct horse battery staple 7"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


@pytest.fixture(scope="module")
def strong_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(STRONG)


def test_hash_then_verify(hasher: PasswordHasher, strong_hash: str) -> None:
    assert strong_hash != STRONG
    assert hasher.verify(strong_hash, STRONG)
    assert not hasher.verify(strong_hash, STRONG + "!")


def test_the_same_password_hashes_differently_each_time(
    hasher: PasswordHasher, strong_hash: str
) -> None:
    assert hasher.hash(STRONG) != strong_hash


def test_hash_uses_argon2id_with_owasp_parameters(strong_hash: str) -> None:
    found = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", strong_hash)
    assert found, strong_hash
    memory, time_cost, parallelism = map(int, found.groups())
    assert memory >= 19456
    assert time_cost >= 2
    assert parallelism == 1


def test_parameters_below_the_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="OWASP"):
        PasswordHasher(memory_cost=4096)


def test_no_truncation_at_128_characters(hasher: PasswordHasher) -> None:
    first, second = "a" * 127 + "b", "a" * 127 + "c"
    assert len(first) == len(second) == 128
    assert check_password_policy(first) is None
    first_hash = hasher.hash(first)
    assert hasher.verify(first_hash, first)
    assert not hasher.verify(first_hash, second)
    assert not hasher.verify(hasher.hash(second), first)


def test_no_truncation_of_multibyte_characters(hasher: PasswordHasher) -> None:
    # 128 characters of 4 UTF-8 bytes each: 512 bytes, well past bcrypt's 72.
    first, second = "😀" * 127 + "a", "😀" * 127 + "b"
    assert check_password_policy(first) is None
    assert not hasher.verify(hasher.hash(first), second)


@pytest.mark.parametrize("garbage", ["", "not a hash", "$argon2id$v=19$m=19456", "$2b$12$abc"])
def test_verify_is_false_on_a_malformed_hash(hasher: PasswordHasher, garbage: str) -> None:
    assert hasher.verify(garbage, STRONG) is False


def test_verify_is_false_on_a_non_ascii_hash(hasher: PasswordHasher, strong_hash: str) -> None:
    assert hasher.verify(strong_hash + "é", STRONG) is False


def test_needs_rehash(hasher: PasswordHasher, strong_hash: str) -> None:
    assert not hasher.needs_rehash(strong_hash)
    assert PasswordHasher(time_cost=3).needs_rehash(strong_hash)
    assert hasher.needs_rehash("garbage")


def test_verify_dummy_runs_a_real_verify_at_the_same_cost(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same work as a real verify, not a timing taken on a shared machine: one
    # argon2 verify against a hash of the same parameters as every stored one.
    checked: list[str] = []
    verify = hasher.verify

    def recording(hash: str, password: str) -> bool:
        checked.append(hash)
        return verify(hash, password)

    monkeypatch.setattr(hasher, "verify", recording)
    hasher.verify_dummy("wrong password")
    hasher.verify_dummy("another wrong password")
    assert len(checked) == 2
    assert checked[0] == checked[1]  # computed once
    assert extract_parameters(checked[0]) == extract_parameters(hasher.hash(STRONG))


async def test_async_variants(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash_async(STRONG)
    assert await hasher.verify_async(encoded, STRONG)
    assert not await hasher.verify_async(encoded, "other password")
    await hasher.verify_dummy_async(STRONG)


def test_a_strong_password_is_accepted() -> None:
    assert check_password_policy(STRONG, username="alice", email="alice@example.com") is None


@pytest.mark.parametrize(
    ("password", "problem"), [("1234567", "at least 8"), ("x" * 129, "at most 128")]
)
def test_length_limits(password: str, problem: str) -> None:
    assert problem in (check_password_policy(password) or "")


def test_eight_characters_are_enough() -> None:
    assert check_password_policy("tq8#vLz!") is None


@pytest.mark.parametrize(
    "password", ["password", "12345678", "qwertyuiop", "PassWord", "QWERTYUIOP"]
)
def test_common_passwords_are_refused(password: str) -> None:
    assert "common" in (check_password_policy(password) or "")


def test_the_username_is_refused_whatever_its_case() -> None:
    problem = check_password_policy("Alice.Smith", username="alice.smith")
    assert "username" in (problem or "")


@pytest.mark.parametrize("password", ["alice.smith", "ALICE.SMITH@example.com"])
def test_the_email_or_its_local_part_is_refused(password: str) -> None:
    problem = check_password_policy(password, email="Alice.Smith@example.com")
    assert "email" in (problem or "")


def test_unencodable_text_is_refused() -> None:
    assert check_password_policy("lone \ud800 surrogate") is not None
