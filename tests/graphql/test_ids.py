"""Global ids: opaque `TypeName:pk`, strictly decoded."""

import base64

import pytest

from gql_app.core.errors import BadUserInput
from gql_app.graphql.ids import MAX_PK, decode_global_id, decode_id_of, encode_global_id


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_a_global_id_decodes_to_its_type_and_key() -> None:
    assert decode_global_id(encode_global_id("Post", 7)) == ("Post", 7)


@pytest.mark.parametrize("type_name", ["User", "Post", "Comment"])
@pytest.mark.parametrize("pk", [1, 9, 10, 99, 100, 12345, 2**31, MAX_PK])
def test_decoding_an_encoded_id_gives_back_its_type_and_key(type_name: str, pk: int) -> None:
    assert decode_global_id(encode_global_id(type_name, pk)) == (type_name, pk)


@pytest.mark.parametrize("type_name", ["Comment", "~~~", "???"])  # base64: `+`, `/`
@pytest.mark.parametrize("pk", [1, 63, 12345, MAX_PK])
def test_a_global_id_is_the_urlsafe_base64_of_type_and_key(type_name: str, pk: int) -> None:
    # Ids clients hold must not change spelling: `-` and `_` where base64 has `+` and `/`.
    assert encode_global_id(type_name, pk) == _raw(f"{type_name}:{pk}")


POST_10 = encode_global_id("Post", 10)  # "UG9zdDoxMA==": padded


@pytest.mark.parametrize(
    "variant",
    [
        POST_10.rstrip("="),
        POST_10[:-1],
        POST_10 + "=",
        POST_10 + "\n",
        " " + POST_10,
        POST_10[:4] + " " + POST_10[4:],
        POST_10[:4] + "!" + POST_10[4:],
        POST_10.replace("MA==", "MB=="),  # other trailing bits, same bytes
        _raw("Post:010"),
        _raw("Post:+10"),
        _raw("Post: 10"),
        _raw("Post:10 "),
        _raw("Post:10\n"),
    ],
)
def test_a_non_canonical_spelling_of_a_valid_id_is_bad_user_input(variant: str) -> None:
    with pytest.raises(BadUserInput, match="invalid id"):
        decode_global_id(variant)


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
