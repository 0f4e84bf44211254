"""The search endpoints' `Annotated` alias: the index the container built."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from minifb.adapters.search import SearchIndex


class SearchPorts(Protocol):
    @property
    def search(self) -> SearchIndex: ...


async def get_index(request: Request) -> SearchIndex:
    ports: SearchPorts = request.app.state.container
    return ports.search


IndexDep = Annotated[SearchIndex, Depends(get_index)]
