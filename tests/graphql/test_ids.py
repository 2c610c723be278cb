"""Global ids: opaque `TypeName:pk`, strictly decoded."""

import base64

import pytest

from gql_app.core.errors import BadUserInput
from gql_app.graphql.ids import decode_global_id, decode_id_of, encode_global_id


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_a_global_id_decodes_to_its_type_and_key() -> None:
    assert decode_global_id(encode_global_id("Post", 7)) == ("Post", 7)


@pytest.mark.parametrize(
    "global_id",
    [
        "",
        "!!",
        _raw("Post"),
        _raw("Post:"),
        _raw("Post:x"),
        _raw("Post:-1"),
        _raw("Post:0"),
        _raw("Post:01"),
        _raw(":1"),
        _raw("Po st:1"),
        _raw("Post:1" + "0" * 30),
        "A" * 300,
    ],
)
def test_a_malformed_id_is_bad_user_input(global_id: str) -> None:
    with pytest.raises(BadUserInput, match="invalid id"):
        decode_global_id(global_id)


def test_an_id_of_another_type_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput, match="not the id of a User"):
        decode_id_of(encode_global_id("Post", 1), "User")
