"""The search port on OpenSearch (self-hosted, or Amazon OpenSearch Service with SigV4).

Two indexes, `<prefix>-people` and `<prefix>-posts`. People are
`search_as_you_type` fields queried as `bool_prefix` (typeahead); posts are
`english`-analysed text. Privacy is a filter of every query, built from the
`Viewer` the search service hands in (its friends and the people hidden from
it, read from the database at query time): an index outside the database
cannot read the social graph, so `needs_ties` is True.

opensearch-py's client is synchronous (its async one needs aiohttp): each
call runs in a worker thread so the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from opensearchpy import AWSV4SignerAuth, Connection, OpenSearch, RequestsHttpConnection, helpers
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.search.base import After, Hit, PersonDoc, PostDoc, Viewer

SCHEMES = ("opensearch+https", "opensearch+http", "https", "http")

PEOPLE_MAPPING: dict[str, Any] = {
    "properties": {
        "id": {"type": "long"},
        "username": {"type": "search_as_you_type"},
        "display_name": {"type": "search_as_you_type"},
    }
}
POSTS_MAPPING: dict[str, Any] = {
    "properties": {
        "id": {"type": "long"},
        "author_id": {"type": "long"},
        "visibility": {"type": "keyword"},
        "created_at": {"type": "date"},
        "text": {"type": "text", "analyzer": "english"},
    }
}
_PREFIX_FIELDS = [
    f"{name}{suffix}"
    for name in ("username", "display_name")
    for suffix in ("", "._2gram", "._3gram")
]


def visibility_filter(viewer: Viewer) -> dict[str, Any]:
    """The posts service's visibility rule (posts/visibility.py) as an OpenSearch filter:
    one's own posts; else, from someone not hidden, public ones and friends' `friends` ones.
    `only_me` posts of others never match."""
    shared: list[dict[str, Any]] = [{"term": {"visibility": "public"}}]
    if viewer.friends:
        shared.append(
            {
                "bool": {
                    "filter": [
                        {"term": {"visibility": "friends"}},
                        {"terms": {"author_id": sorted(viewer.friends)}},
                    ]
                }
            }
        )
    others: dict[str, Any] = {"bool": {"should": shared, "minimum_should_match": 1}}
    if viewer.hidden:
        others["bool"]["must_not"] = [{"terms": {"author_id": sorted(viewer.hidden)}}]
    return {
        "bool": {
            "should": [{"term": {"author_id": viewer.id}}, others],
            "minimum_should_match": 1,
        }
    }


class OpenSearchIndex:
    """People and posts in two OpenSearch indexes."""

    needs_ties = True

    def __init__(self, client: OpenSearch, *, prefix: str = "minifb") -> None:
        self.client = client
        self.people_index = f"{prefix}-people"
        self.posts_index = f"{prefix}-posts"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "minifb",
        region: str = "us-east-1",
        connection_class: type[Connection] | None = None,
    ) -> OpenSearchIndex:
        """An index on the cluster at `url` (`opensearch+https://host[:port]`, with
        `user:password@` for basic auth). A host under `.amazonaws.com` is signed with
        SigV4 (boto3's default credentials, service `es`, or `aoss` for Serverless)."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"not an OpenSearch URL: {parts.scheme}://...")
        tls = parts.scheme.endswith("https")
        host = parts.hostname
        auth: Any = None
        if host.endswith(".amazonaws.com"):
            auth = aws_auth(host, region)
        elif parts.username:
            auth = (unquote(parts.username), unquote(parts.password or ""))
        client = OpenSearch(
            hosts=[{"host": host, "port": parts.port or (443 if tls else 9200)}],
            http_auth=auth,
            use_ssl=tls,
            verify_certs=tls,
            connection_class=connection_class or RequestsHttpConnection,
            timeout=5,
        )
        return cls(client, prefix=prefix)

    # Writing

    async def put_people(self, session: AsyncSession, people: Sequence[PersonDoc]) -> None:
        await self._bulk(
            [
                _index_action(
                    self.people_index,
                    p.id,
                    {"id": p.id, "username": p.username, "display_name": p.display_name},
                )
                for p in people
            ]
        )

    async def put_posts(self, session: AsyncSession, posts: Sequence[PostDoc]) -> None:
        await self._bulk(
            [
                _index_action(
                    self.posts_index,
                    p.id,
                    {
                        "id": p.id,
                        "author_id": p.author_id,
                        "visibility": p.visibility,
                        "created_at": p.created_at.isoformat(),
                        "text": p.text,
                    },
                )
                for p in posts
            ]
        )

    async def _bulk(self, actions: list[dict[str, Any]]) -> None:
        if actions:
            await asyncio.to_thread(helpers.bulk, self.client, actions)

    async def remove_person(self, session: AsyncSession, person_id: int) -> None:
        await asyncio.to_thread(
            self.client.delete, index=self.people_index, id=str(person_id), ignore=404
        )

    async def remove_post(self, session: AsyncSession, post_id: int) -> None:
        await asyncio.to_thread(
            self.client.delete, index=self.posts_index, id=str(post_id), ignore=404
        )

    async def clear(self, session: AsyncSession) -> None:
        """Drop both indexes and create them again, empty, with their mappings."""

        def recreate() -> None:
            for name, mapping in (
                (self.people_index, PEOPLE_MAPPING),
                (self.posts_index, POSTS_MAPPING),
            ):
                self.client.indices.delete(index=name, ignore=404)
                self.client.indices.create(index=name, body={"mappings": mapping})

        await asyncio.to_thread(recreate)

    async def rebuilt(self, session: AsyncSession) -> None:
        """Refresh both indexes, so what the rebuild wrote is searchable at once."""
        await asyncio.to_thread(
            self.client.indices.refresh, index=f"{self.people_index},{self.posts_index}"
        )

    # Reading

    def people_query(
        self, words: Sequence[str], viewer: Viewer, *, limit: int, after: After | None
    ) -> dict[str, Any]:
        """The body of a people search."""
        query: dict[str, Any] = {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": " ".join(words),
                            "type": "bool_prefix",
                            "operator": "and",
                            "fields": _PREFIX_FIELDS,
                        }
                    }
                ]
            }
        }
        hidden = sorted(viewer.hidden)
        if hidden:
            query["bool"]["must_not"] = [{"terms": {"id": hidden}}]
        return _paged(query, limit=limit, after=after)

    def posts_query(
        self, words: Sequence[str], viewer: Viewer, *, limit: int, after: After | None
    ) -> dict[str, Any]:
        """The body of a posts search."""
        query = {
            "bool": {
                "must": [{"match": {"text": {"query": " ".join(words), "operator": "and"}}}],
                "filter": [visibility_filter(viewer)],
            }
        }
        return _paged(query, limit=limit, after=after)

    async def people(
        self,
        session: AsyncSession,
        words: Sequence[str],
        viewer: Viewer,
        *,
        limit: int,
        after: After | None = None,
    ) -> list[Hit]:
        if not words:
            return []
        body = self.people_query(words, viewer, limit=limit, after=after)
        return await self._search(self.people_index, body)

    async def posts(
        self,
        session: AsyncSession,
        words: Sequence[str],
        viewer: Viewer,
        *,
        limit: int,
        after: After | None = None,
    ) -> list[Hit]:
        if not words:
            return []
        body = self.posts_query(words, viewer, limit=limit, after=after)
        return await self._search(self.posts_index, body)

    async def _search(self, index: str, body: dict[str, Any]) -> list[Hit]:
        answer = await asyncio.to_thread(self.client.search, index=index, body=body)
        return [
            Hit(id=int(hit["_id"]), score=float(hit["_score"])) for hit in answer["hits"]["hits"]
        ]

    async def ping(self) -> None:
        if not await asyncio.to_thread(self.client.ping):
            raise ConnectionError("OpenSearch does not answer")


def _index_action(index: str, id_: int, source: dict[str, Any]) -> dict[str, Any]:
    return {"_op_type": "index", "_index": index, "_id": str(id_), "_source": source}


def _paged(query: dict[str, Any], *, limit: int, after: After | None) -> dict[str, Any]:
    # Best first, ties newest first (ids are time-ordered); `search_after` continues.
    body: dict[str, Any] = {
        "query": query,
        "size": limit,
        "sort": [{"_score": "desc"}, {"id": "desc"}],
        "track_scores": True,
        "_source": False,
    }
    if after is not None:
        body["search_after"] = [after.score, after.id]
    return body


def aws_auth(host: str, region: str) -> AWSV4SignerAuth:
    """SigV4 request signing with boto3's default credentials chain (environment, the
    task or instance role, ...), refreshed as they rotate."""
    import boto3  # loaded by deployments on AWS alone

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ValueError("SigV4 signing for OpenSearch needs AWS credentials; none were found")
    service = "aoss" if host.endswith(".aoss.amazonaws.com") else "es"
    return AWSV4SignerAuth(credentials, region, service)
