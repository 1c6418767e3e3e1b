"""The redactor: known secret values and credential-shaped strings become [REDACTED]."""

from __future__ import annotations

import pytest

from overseer.redact import REDACTED, Redactor


def test_explicit_secret_is_replaced_everywhere_in_the_text() -> None:
    redactor = Redactor(["s3cr3t-value"])
    assert redactor.redact("a s3cr3t-value and s3cr3t-value") == f"a {REDACTED} and {REDACTED}"


def test_longer_secret_containing_a_shorter_one_is_replaced_whole() -> None:
    redactor = Redactor(["abcdefgh", "abcdefgh-extended"])
    assert redactor.redact("x abcdefgh-extended y") == f"x {REDACTED} y"


def test_empty_secret_does_not_redact_everything() -> None:
    assert Redactor(["", "short"]).redact("plain text") == "plain text"


def test_from_environ_takes_values_of_credential_named_variables() -> None:
    redactor = Redactor.from_environ(
        {
            "ANTHROPIC_API_KEY": "value-of-the-key",
            "github_token": "value-of-the-token",
            "DB_PASSWORD": "value-of-the-password",
            "CLIENT_SECRET": "value-of-the-secret",
            "HOME": "/home/someone-long",
            "MY_TOKEN": "short",  # under 8 characters: a setting, not a secret
        }
    )
    text = "value-of-the-key value-of-the-token value-of-the-password value-of-the-secret"
    assert redactor.redact(text) == f"{REDACTED} {REDACTED} {REDACTED} {REDACTED}"
    assert redactor.redact("/home/someone-long short") == "/home/someone-long short"


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-AbC_dEf-123456789012345678901234",
        "sk-abcdefghijklmnop1234",
        "sk-proj-abcdefghijklmnopqrstuvwx_yz12",
    ],
)
def test_api_key_patterns_are_redacted_without_being_known(secret: str) -> None:
    assert Redactor([]).redact(f"key={secret} end") == f"key={REDACTED} end"


def test_bearer_token_is_redacted_but_the_scheme_kept() -> None:
    text = "Authorization: Bearer eyJhbGciOi.J9x1y2z3.abc-def_ghi"
    assert Redactor([]).redact(text) == f"Authorization: Bearer {REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "add Bearer authentication to the API",
        "the task-abcdefghijklmnopqrstuvwxyz branch",
        "sk-short is not a key",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor([]).redact(text) == text


def test_redact_data_walks_nested_structures_and_keeps_other_values() -> None:
    redactor = Redactor(["s3cr3t-value"])
    data = {
        "command": "echo s3cr3t-value",
        "args": ["a", "s3cr3t-value", 3, None, True],
        "nested": {"pair": ("s3cr3t-value", 1.5)},
        "s3cr3t-value": "as a key",
    }
    assert redactor.redact_data(data) == {
        "command": f"echo {REDACTED}",
        "args": ["a", REDACTED, 3, None, True],
        "nested": {"pair": (REDACTED, 1.5)},
        REDACTED: "as a key",
    }
