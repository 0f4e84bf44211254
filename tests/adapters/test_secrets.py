import pytest

from minifb.adapters.secrets import EnvSecretStore, create_secret_store


async def test_env_store_reads_the_prefixed_upper_case_variable() -> None:
    store = EnvSecretStore({"MINIFB_JWT_SIGNING_KEY": "pem", "jwt_signing_key": "wrong"})
    assert await store.get("jwt_signing_key") == "pem"


async def test_env_store_returns_none_for_a_missing_secret() -> None:
    store = EnvSecretStore({"JWT_SIGNING_KEY": "unprefixed"})
    assert await store.get("jwt_signing_key") is None


async def test_env_store_defaults_to_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MINIFB_SOME_SECRET", "value")
    assert await EnvSecretStore().get("some_secret") == "value"


def test_factory_builds_the_env_store() -> None:
    assert isinstance(create_secret_store("env://"), EnvSecretStore)


def test_factory_names_an_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="'aws-secretsmanager'"):
        create_secret_store("aws-secretsmanager://minifb/prod")
