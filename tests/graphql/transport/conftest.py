"""Fixtures of the transport tests."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.schema.schema import Schema as StrawberrySchema


@pytest.fixture
def full_path_runs(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The query texts Strawberry's `Schema.execute` (the full path) runs from here on."""
    runs: list[str | None] = []
    execute = StrawberrySchema.execute

    async def counted(
        schema: StrawberrySchema, query: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        runs.append(query)
        return await execute(schema, query, *args, **kwargs)

    monkeypatch.setattr(StrawberrySchema, "execute", counted)
    return runs
