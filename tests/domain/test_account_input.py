"""The rules account input follows, and the messages that name them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gql_app.domain import input as account_input
from gql_app.domain.input import InvalidInput


@pytest.mark.parametrize("value", ["abc", "a_b_1", "A" * 50, "  padded_name  "])
def test_valid_usernames_are_accepted_without_surrounding_spaces(value: str) -> None:
    assert account_input.username(value) == value.strip()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ab", "Username must be 3 to 50 characters long (it has 2)."),
        ("a" * 51, "Username must be 3 to 50 characters long (it has 51)."),
        ("bad-name", "Username may contain only letters (a-z, A-Z), digits and underscores."),
        ("' OR 1=1 --", "Username may contain only letters (a-z, A-Z), digits and underscores."),
        ("ünïcode", "Username may contain only letters (a-z, A-Z), digits and underscores."),
    ],
)
def test_invalid_usernames_say_which_rule_they_break(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        account_input.username(value)
    assert (caught.value.field, caught.value.message) == ("username", message)


@pytest.mark.parametrize(
    "value",
    ["a@b.io", "first.last+tag@mail.example.com", "x'OR'1'='1@example.com", "a" * 64 + "@x.io"],
)
def test_valid_emails_are_accepted(value: str) -> None:
    assert account_input.email(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "no-domain@",
        "@no-local.io",
        "two@@at.io",
        "a@b",
        "space in@x.io",
        ".dot@x.io",
        "dot.@x.io",
        "a..b@x.io",
        "a@-x.io",
        "a" * 65 + "@x.io",
    ],
)
def test_invalid_emails_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="Email must be a valid email address"):
        account_input.email(value)


def test_an_email_over_120_characters_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidInput, match=r"at most 120 characters long \(it has 121\)"):
        account_input.email("a" * 60 + "@" + "b" * 56 + ".com")


@pytest.mark.parametrize("length", [8, 128])
def test_new_passwords_of_8_to_128_characters_are_kept_whole(length: int) -> None:
    password = " x" * (length // 2)
    assert account_input.new_password(password) == password


@pytest.mark.parametrize("length", [0, 7, 129, 10_000])
def test_new_passwords_outside_8_to_128_characters_are_refused(length: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        account_input.new_password("p" * length, field="newPassword")
    assert caught.value.field == "newPassword"
    assert caught.value.message == (
        f"New password must be 8 to 128 characters long (it has {length})."
    )


def test_a_given_password_over_128_characters_is_refused_before_any_hashing() -> None:
    assert account_input.given_password("short") == "short"
    with pytest.raises(InvalidInput, match="at most 128"):
        account_input.given_password("p" * 129)


@pytest.mark.parametrize("value", ["", "   ", "a" * 121])
def test_a_login_must_be_a_plausible_username_or_email(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        account_input.login(value)
    assert caught.value.field == "login"


@pytest.mark.parametrize("value", ["nul\x00inside", "lone \ud800 surrogate"])
@pytest.mark.parametrize(
    ("check", "field"),
    [
        (account_input.new_password, "password"),
        (account_input.given_password, "password"),
        (account_input.login, "login"),
    ],
)
def test_text_the_database_or_hasher_cannot_take_is_refused(
    check: Callable[[str], str], field: str, value: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        check(value + "-padding")
    assert caught.value.field == field
