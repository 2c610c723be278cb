"""The object types unpack the rows the queries return: their columns in the same order."""

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gql_app import queries
from gql_app.graphql.types import Comment, Post, User


@pytest.mark.parametrize(
    ("columns", "from_row", "attributes"),
    [
        (
            queries.USER_ROW,
            User.from_row,
            {
                "pk": "id",
                "username": "username",
                "email_address": "email",
                "created_at": "created_at",
            },
        ),
        (
            queries.POST_ROW,
            Post.from_row,
            {
                "pk": "id",
                "author_id": "author_id",
                "title": "title",
                "body": "body",
                "created_at": "created_at",
                "updated_at": "updated_at",
            },
        ),
        (
            queries.COMMENT_ROW,
            Comment.from_row,
            {
                "pk": "id",
                "post_id": "post_id",
                "author_id": "author_id",
                "body": "body",
                "created_at": "created_at",
            },
        ),
    ],
)
def test_objects_read_each_column_of_their_rows(
    columns: Sequence[Any], from_row: Callable[[Any], Any], attributes: dict[str, str]
) -> None:
    row = tuple(column.key for column in columns)  # each column's value is its name
    made = from_row(row)
    assert {name: getattr(made, name) for name in attributes} == attributes
