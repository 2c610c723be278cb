"""The rules of text input (accounts' usernames, emails and passwords; posts' and comments'
text), with messages for people."""

from __future__ import annotations

import re

from gql_app.db.models import EMAIL_MAX, USERNAME_MAX, USERNAME_MIN

PASSWORD_MIN, PASSWORD_MAX = 8, 128

_USERNAME = re.compile(r"[A-Za-z0-9_]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
_EMAIL_LOCAL_MAX = 64


class InvalidInput(Exception):
    """An input field breaks a rule: `field` as named in the schema, `message` a sentence."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.message = f"{_label(field)} {rule}."
        super().__init__(self.message)


def _label(field: str) -> str:
    """`newPassword` -> `New password`."""
    words = re.sub(r"([A-Z])", r" \1", field).lower()
    return words[:1].upper() + words[1:]


def holds_nul(value: str) -> bool:
    """Whether `value` has a NUL character, which no stored text has (PostgreSQL's cannot)."""
    return "\x00" in value


def _plain_text(value: str, field: str) -> str:
    """`value`, if the database and the hasher can take it: UTF-8 text without NUL."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode text") from None
    if holds_nul(value):
        raise InvalidInput(field, "must not contain NUL characters")
    return value


def text(value: str, *, field: str, max_length: int) -> str:
    """Text to store (a title, a body), surrounding spaces removed: 1 to `max_length`
    characters of plain text."""
    value = value.strip()
    if not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidInput(
            field, f"must be at most {max_length:,} characters (it has {len(value):,})"
        )
    return _plain_text(value, field)


def username(value: str, *, field: str = "username") -> str:
    """The username, surrounding spaces removed: 3 to 50 ASCII letters, digits or underscores."""
    value = value.strip()
    if not USERNAME_MIN <= len(value) <= USERNAME_MAX:
        raise InvalidInput(
            field, f"must be {USERNAME_MIN} to {USERNAME_MAX} characters long (it has {len(value)})"
        )
    if not _USERNAME.fullmatch(value):
        raise InvalidInput(field, "may contain only letters (a-z, A-Z), digits and underscores")
    return value


def email(value: str, *, field: str = "email") -> str:
    """The email address, surrounding spaces removed: a valid address of at most 120 characters."""
    value = value.strip()
    if len(value) > EMAIL_MAX:
        raise InvalidInput(
            field, f"must be at most {EMAIL_MAX} characters long (it has {len(value)})"
        )
    local, _, _ = value.partition("@")
    if not _EMAIL.fullmatch(value) or len(local) > _EMAIL_LOCAL_MAX:
        raise InvalidInput(field, "must be a valid email address, like name@example.com")
    return value


def new_password(value: str, *, field: str = "password") -> str:
    """A password to set: 8 to 128 characters, kept whole (never truncated)."""
    _plain_text(value, field)
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise InvalidInput(
            field, f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long (it has {len(value)})"
        )
    return value


def given_password(value: str, *, field: str = "password") -> str:
    """A password to check: no password longer than 128 characters can be right."""
    _plain_text(value, field)
    if len(value) > PASSWORD_MAX:
        raise InvalidInput(field, f"must be at most {PASSWORD_MAX} characters long")
    return value


def login(value: str, *, field: str = "login") -> str:
    """A username or email to log in with, surrounding spaces removed."""
    value = _plain_text(value, field).strip()
    if not value or len(value) > EMAIL_MAX:
        raise InvalidInput(
            field, f"must be a username or an email of at most {EMAIL_MAX} characters"
        )
    return value
