from minifb.adapters.secrets.base import SecretStore
from minifb.adapters.secrets.env import EnvSecretStore


def create_secret_store(url: str) -> SecretStore:
    """The store named by `MINIFB_SECRETS_URL`."""
    if url.startswith("env://"):
        return EnvSecretStore()
    raise ValueError(f"unsupported secrets URL scheme: {url.split(':', 1)[0]!r}")


__all__ = ["EnvSecretStore", "SecretStore", "create_secret_store"]
