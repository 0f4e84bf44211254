"""The OpenSearch index at its transport: the requests it sends (mapping, bulk, queries,
deletes) recorded by a fake connection, since no OpenSearch server runs here; and the
SigV4 signing it sets up for Amazon OpenSearch Service."""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import requests
from opensearchpy import AWSV4SignerAuth, Connection

from minifb.adapters.search import After, Hit, PersonDoc, PostDoc, Viewer
from minifb.adapters.search.opensearch import (
    PEOPLE_MAPPING,
    POSTS_MAPPING,
    OpenSearchIndex,
    visibility_filter,
)
from minifb.posts.visibility import Relations, may_see

Request = tuple[str, str, dict[str, Any], str]


class Recording(Connection):
    """A connection that answers like OpenSearch and records what it was asked."""

    sent: ClassVar[list[Request]] = []
    hits: ClassVar[list[dict[str, Any]]] = []

    def perform_request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
        ignore: Collection[int] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        text = body.decode() if isinstance(body, bytes) else (body or "")
        recorded = dict(params or {})
        if ignore:  # what the transport treats as no error, e.g. 404 on a delete
            recorded["ignore"] = [ignore] if isinstance(ignore, int) else sorted(ignore)
        self.sent.append((method, url, recorded, text))
        answer: dict[str, Any] = {"acknowledged": True}
        if url.endswith("/_bulk"):
            actions = [json.loads(line) for line in text.splitlines() if line][::2]
            answer = {
                "took": 1,
                "errors": False,
                "items": [{op: {"status": 201}} for a in actions for op in a],
            }
        elif url.endswith("/_search"):
            answer = {"hits": {"hits": self.hits}}
        return 200, {"content-type": "application/json"}, json.dumps(answer)


@pytest.fixture
def index() -> OpenSearchIndex:
    Recording.sent = []
    Recording.hits = []
    return OpenSearchIndex.from_url(
        "opensearch+https://search.example.com", prefix="t", connection_class=Recording
    )


def _bodies(url_end: str) -> list[Any]:
    return [json.loads(body) for _, url, _, body in Recording.sent if url.endswith(url_end)]


class TestWriting:
    async def test_clear_creates_both_indexes_with_their_mappings(
        self, index: OpenSearchIndex
    ) -> None:
        await index.clear(None)  # type: ignore[arg-type]
        assert [(m, u) for m, u, _, _ in Recording.sent] == [
            ("DELETE", "/t-people"),
            ("PUT", "/t-people"),
            ("DELETE", "/t-posts"),
            ("PUT", "/t-posts"),
        ]
        created = [json.loads(b) for m, _, _, b in Recording.sent if m == "PUT"]
        assert created == [{"mappings": PEOPLE_MAPPING}, {"mappings": POSTS_MAPPING}]
        assert PEOPLE_MAPPING["properties"]["username"]["type"] == "search_as_you_type"
        assert POSTS_MAPPING["properties"]["text"]["analyzer"] == "english"

    async def test_posts_and_people_go_in_one_bulk_request_each(
        self, index: OpenSearchIndex
    ) -> None:
        at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
        await index.put_posts(
            None,  # type: ignore[arg-type]
            [PostDoc(7, 3, "river walk", "friends", at), PostDoc(8, 3, "lunch", "public", at)],
        )
        await index.put_people(None, [PersonDoc(3, "ana", "Ana K")])  # type: ignore[arg-type]
        bulks = [b for _, u, _, b in Recording.sent if u == "/_bulk"]
        assert len(bulks) == 2
        lines = [json.loads(line) for line in bulks[0].splitlines()]
        assert lines == [
            {"index": {"_index": "t-posts", "_id": "7"}},
            {
                "id": 7,
                "author_id": 3,
                "visibility": "friends",
                "created_at": "2026-11-26T12:00:00+00:00",
                "text": "river walk",
            },
            {"index": {"_index": "t-posts", "_id": "8"}},
            {
                "id": 8,
                "author_id": 3,
                "visibility": "public",
                "created_at": "2026-11-26T12:00:00+00:00",
                "text": "lunch",
            },
        ]
        assert [json.loads(line) for line in bulks[1].splitlines()] == [
            {"index": {"_index": "t-people", "_id": "3"}},
            {"id": 3, "username": "ana", "display_name": "Ana K"},
        ]

    async def test_a_finished_rebuild_refreshes_both_indexes(self, index: OpenSearchIndex) -> None:
        await index.rebuilt(None)  # type: ignore[arg-type]
        assert [(m, u) for m, u, _, _ in Recording.sent] == [("POST", "/t-people,t-posts/_refresh")]

    async def test_nothing_to_write_sends_nothing(self, index: OpenSearchIndex) -> None:
        await index.put_posts(None, [])  # type: ignore[arg-type]
        await index.put_people(None, [])  # type: ignore[arg-type]
        assert Recording.sent == []

    async def test_removing_deletes_the_document_and_a_missing_one_is_fine(
        self, index: OpenSearchIndex
    ) -> None:
        await index.remove_post(None, 7)  # type: ignore[arg-type]
        await index.remove_person(None, 3)  # type: ignore[arg-type]
        assert [(m, u, p.get("ignore")) for m, u, p, _ in Recording.sent] == [
            ("DELETE", "/t-posts/_doc/7", [404]),
            ("DELETE", "/t-people/_doc/3", [404]),
        ]


class TestQueries:
    async def test_a_posts_query_matches_every_word_within_the_visibility_filter(
        self, index: OpenSearchIndex
    ) -> None:
        Recording.hits = [{"_id": "9", "_score": 2.5}, {"_id": "4", "_score": 1.25}]
        viewer = Viewer(1, friends=frozenset({5, 2}), hidden=frozenset({6}))
        hits = await index.posts(
            None,  # type: ignore[arg-type]
            ["river", "walk"],
            viewer,
            limit=3,
            after=After(score=3.0, id=12),
        )
        assert hits == [Hit(9, 2.5), Hit(4, 1.25)]
        (url_body,) = [(u, json.loads(b)) for _, u, _, b in Recording.sent]
        assert url_body == (
            "/t-posts/_search",
            {
                "query": {
                    "bool": {
                        "must": [{"match": {"text": {"query": "river walk", "operator": "and"}}}],
                        "filter": [visibility_filter(viewer)],
                    }
                },
                "size": 3,
                "sort": [{"_score": "desc"}, {"id": "desc"}],
                "track_scores": True,
                "_source": False,
                "search_after": [3.0, 12],
            },
        )
        assert visibility_filter(viewer)["bool"]["should"][1]["bool"]["must_not"] == [
            {"terms": {"author_id": [6]}}
        ]

    async def test_a_people_query_is_a_prefix_query_leaving_out_the_hidden(
        self, index: OpenSearchIndex
    ) -> None:
        await index.people(
            None,  # type: ignore[arg-type]
            ["ana", "ko"],
            Viewer(1, hidden=frozenset({8, 4})),
            limit=5,
        )
        (body,) = _bodies("/t-people/_search")
        assert body["query"] == {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": "ana ko",
                            "type": "bool_prefix",
                            "operator": "and",
                            "fields": [
                                "username",
                                "username._2gram",
                                "username._3gram",
                                "display_name",
                                "display_name._2gram",
                                "display_name._3gram",
                            ],
                        }
                    }
                ],
                "must_not": [{"terms": {"id": [4, 8]}}],
            }
        }
        assert "search_after" not in body

    async def test_no_words_send_no_query(self, index: OpenSearchIndex) -> None:
        viewer = Viewer(1)
        assert await index.posts(None, [], viewer, limit=5) == []  # type: ignore[arg-type]
        assert await index.people(None, [], viewer, limit=5) == []  # type: ignore[arg-type]
        assert Recording.sent == []


def _matches(clause: dict[str, Any], doc: dict[str, Any]) -> bool:
    """The few query DSL clauses the filter uses, evaluated on one document."""
    ((kind, spec),) = clause.items()
    if kind == "term":
        ((field, value),) = spec.items()
        return bool(doc[field] == value)
    if kind == "terms":
        ((field, values),) = spec.items()
        return doc[field] in values
    assert kind == "bool"
    should = spec.get("should", [])
    return (
        all(_matches(c, doc) for c in spec.get("filter", []))
        and not any(_matches(c, doc) for c in spec.get("must_not", []))
        and (not should or sum(_matches(c, doc) for c in should) >= spec["minimum_should_match"])
    )


class TestTheVisibilityFilter:
    def test_it_is_the_posts_services_rule(self) -> None:
        # Viewer 1; author 1 (self), 2 (friend), 3 (stranger), 4 (hidden), 5 (hidden friend
        # cannot be: a block ends a friendship), every visibility, with and without ties.
        people = [1, 2, 3, 4]
        for friends, hidden in itertools.product(
            [frozenset(), frozenset({2})], [frozenset(), frozenset({4})]
        ):
            viewer = Viewer(1, friends=friends, hidden=hidden)
            rel = Relations(friends=friends, hidden=hidden)
            for author, visibility in itertools.product(people, ["public", "friends", "only_me"]):
                doc = {"author_id": author, "visibility": visibility}
                assert _matches(visibility_filter(viewer), doc) == may_see(
                    1, author, visibility, rel
                ), (author, visibility, friends, hidden)


class TestConnecting:
    def test_an_amazon_host_is_signed_with_sigv4(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        index = OpenSearchIndex.from_url(
            "opensearch+https://search-x.eu-west-1.es.amazonaws.com", region="eu-west-1"
        )
        (connection,) = index.client.transport.connection_pool.connections
        auth = connection.session.auth
        assert isinstance(auth, AWSV4SignerAuth)
        request = requests.Request(
            "GET", "https://search-x.eu-west-1.es.amazonaws.com/t-posts/_search"
        ).prepare()
        signed = auth(request)
        assert signed.headers["Authorization"].startswith(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
        )
        assert "/eu-west-1/es/aws4_request" in signed.headers["Authorization"]

    def test_basic_auth_comes_from_the_url(self) -> None:
        index = OpenSearchIndex.from_url("opensearch+https://admin:p%40ss@localhost:9200")
        (connection,) = index.client.transport.connection_pool.connections
        assert connection.session.auth == ("admin", "p@ss")

    @pytest.mark.parametrize("url", ["database://", "ftp://host", "opensearch+https://"])
    def test_anything_else_is_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match="not an OpenSearch URL"):
            OpenSearchIndex.from_url(url)
