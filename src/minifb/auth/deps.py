"""The auth endpoints' `Annotated` aliases: what they read of the container besides kit's.

`AuthPorts` names it; `bootstrap.Container` provides it. The service itself
takes each of these as a keyword argument, so its signatures say what a use
case touches.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from minifb.auth.passwords import PasswordHasher
from minifb.auth.policy import LoginPolicy
from minifb.auth.revocations import Revocations
from minifb.auth.service import Client
from minifb.auth.tokens import AccessTokenCodec, KeySet
from minifb.kit.client_ip import ClientIp


class AuthPorts(Protocol):
    @property
    def passwords(self) -> PasswordHasher: ...

    @property
    def tokens(self) -> AccessTokenCodec: ...

    @property
    def keyset(self) -> KeySet: ...

    @property
    def revocations(self) -> Revocations: ...

    @property
    def login_policy(self) -> LoginPolicy: ...


async def get_auth_ports(request: Request) -> AuthPorts:
    ports: AuthPorts = request.app.state.container
    return ports


_PortsDep = Annotated[AuthPorts, Depends(get_auth_ports)]


async def get_passwords(ports: _PortsDep) -> PasswordHasher:
    return ports.passwords


async def get_tokens(ports: _PortsDep) -> AccessTokenCodec:
    return ports.tokens


async def get_keyset(ports: _PortsDep) -> KeySet:
    return ports.keyset


async def get_revocations(ports: _PortsDep) -> Revocations:
    return ports.revocations


async def get_login_policy(ports: _PortsDep) -> LoginPolicy:
    return ports.login_policy


async def get_client(request: Request, ip: ClientIp) -> Client:
    return Client(ip=ip, user_agent=request.headers.get("user-agent", ""))


PasswordsDep = Annotated[PasswordHasher, Depends(get_passwords)]
TokensDep = Annotated[AccessTokenCodec, Depends(get_tokens)]
KeySetDep = Annotated[KeySet, Depends(get_keyset)]
RevocationsDep = Annotated[Revocations, Depends(get_revocations)]
LoginPolicyDep = Annotated[LoginPolicy, Depends(get_login_policy)]
ClientDep = Annotated[Client, Depends(get_client)]
"""Where the request comes from: the address the gateway resolved, and the user agent."""
