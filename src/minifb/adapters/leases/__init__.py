"""The lease port (numbers held by one holder at a time) and its implementations on one
host (lock files) and in Redis; the database's is `kit.db_leases`, beside its table."""

from minifb.adapters.leases.base import Lease, LeaseStore
from minifb.adapters.leases.files import FileLeases
from minifb.adapters.leases.redis import RedisLeases

__all__ = ["FileLeases", "Lease", "LeaseStore", "RedisLeases"]
