"""`problems()` and the document's completion (the whole document: tests/test_openapi.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, FastAPI

from minifb.kit.errors import PROBLEM_JSON, Conflict, NotFound
from minifb.kit.openapi import install_openapi, operation_id, problems


class NoSuchThing(NotFound):
    """No such thing, or one you may not see."""

    code = "thing-not-found"

    def __init__(self) -> None:
        super().__init__("No such thing.")


class ThingTaken(Conflict):
    code = "thing-taken"

    def __init__(self) -> None:
        super().__init__("That thing is taken.")


def examples(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v["value"] for k, v in response["content"][PROBLEM_JSON]["examples"].items()}


class TestProblems:
    def test_an_error_class_gives_its_status_code_words_and_docstring(self) -> None:
        (status, response), *_ = problems(NoSuchThing).items()
        assert status == 404
        assert response["description"] == "No such thing, or one you may not see."
        assert examples(response) == {
            "thing-not-found": {
                "type": "https://minifb.dev/problems/thing-not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "No such thing.",
            }
        }

    def test_answers_of_one_status_share_it(self) -> None:
        response = problems(ThingTaken, (409, "Something else conflicts."))[409]
        assert response["description"] == "That thing is taken. Or: Something else conflicts."
        assert set(examples(response)) == {"thing-taken", "conflict"}

    def test_a_status_alone_is_described_as_usual_with_its_headers(self) -> None:
        response = problems(429)[429]
        assert "Retry-After" in response["description"]
        assert response["headers"]["Retry-After"]["required"] is True
        assert examples(response)["too-many-requests"]["status"] == 429


def test_operation_ids_are_route_names_in_camel_case() -> None:
    router = APIRouter()

    @router.get("/a", name="list_friend_suggestions")
    async def a() -> None: ...

    (route,) = router.routes
    assert operation_id(route) == "listFriendSuggestions"  # type: ignore[arg-type]


class TestCompletion:
    def document(self) -> dict[str, Any]:
        app = FastAPI(generate_unique_id_function=operation_id)

        @app.post("/things/{thing_id}", responses=problems(NoSuchThing))
        async def create_thing(thing_id: int, body: dict[str, int] = Body()) -> None: ...

        @app.get("/health")
        async def get_health() -> None: ...

        install_openapi(app, rate_limit_exempt={"/health"})
        return app.openapi()

    def test_the_frameworks_and_the_gateways_answers_join_the_document(self) -> None:
        document = self.document()
        created = document["paths"]["/things/{thing_id}"]["post"]["responses"]
        assert set(created) == {"200", "400", "404", "413", "422", "429"}
        assert set(created["422"]["content"]) == {PROBLEM_JSON}
        assert created["422"]["content"][PROBLEM_JSON]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
        assert set(document["paths"]["/health"]["get"]["responses"]) == {"200"}
        schemas = document["components"]["schemas"]
        assert {"Problem", "ProblemError"} <= set(schemas)
        assert not {"HTTPValidationError", "ValidationError"} & set(schemas)

    def test_it_is_completed_once(self) -> None:
        app = FastAPI()
        install_openapi(app)
        assert app.openapi() is app.openapi()
