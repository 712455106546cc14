"""Credentials file: format, precedence, permissions, and that no secret ever shows itself."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hikscan.active.audit.credentials import Secret, load_credentials, parse_credentials
from hikscan.errors import UsageError

PASSWORD = "s3cret-Pa55-no"
GOOD = f"""
[default]
username = "auditor"
password = "{PASSWORD}-default"

[[subnet]]
cidr = "10.20.0.0/16"
username = "site-a"
password = "{PASSWORD}-16"

[[subnet]]
cidr = "10.20.5.0/24"
username = "site-a5"
password = "{PASSWORD}-24"

[[host]]
address = "10.20.5.9"
username = "admin"
password = "{PASSWORD}-host"
""".encode()


def test_most_specific_entry_wins_and_only_one_is_chosen() -> None:
    store = parse_credentials(GOOD)
    assert store.for_host("10.20.5.9").password.reveal() == f"{PASSWORD}-host"  # type: ignore[union-attr]
    assert store.for_host("10.20.5.10").password.reveal() == f"{PASSWORD}-24"  # type: ignore[union-attr]
    assert store.for_host("10.20.9.1").password.reveal() == f"{PASSWORD}-16"  # type: ignore[union-attr]
    assert store.for_host("192.0.2.1").password.reveal() == f"{PASSWORD}-default"  # type: ignore[union-attr]
    assert store.for_host("not-an-ip") is None


def test_without_default_an_unlisted_host_gets_nothing() -> None:
    store = parse_credentials(b'[[host]]\naddress = "192.0.2.7"\nusername = "a"\npassword = "b"\n')
    assert store.for_host("192.0.2.8") is None


def test_toml_keeps_password_like_strings_as_typed() -> None:
    store = parse_credentials(b'[default]\nusername = "admin"\npassword = "0123"\n')
    assert store.default is not None and store.default.password.reveal() == "0123"
    with pytest.raises(UsageError, match="quoted string"):
        parse_credentials(b'[default]\nusername = "admin"\npassword = 123\n')


def test_nothing_redacted_ever_prints() -> None:
    store = parse_credentials(GOOD)
    cred = store.for_host("10.20.5.9")
    for text in (
        repr(cred),
        str(cred),
        f"{cred}",
        repr(store),
        str(cred.password),
        f"{cred.password}",  # type: ignore[union-attr]
        f"{cred.password!r}",
        f"{cred.password}",
        repr([cred]),
    ):  # type: ignore[union-attr]
        assert PASSWORD not in text and "admin" not in text, text
    with pytest.raises(TypeError):
        pickle.dumps(Secret(PASSWORD))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'[default]\nusername = "a"\n', "'password'"),
        (b'[default]\nusername = "a"\npassword = "x"\nextra = "y"\n', "unknown key"),
        (b'[[host]]\naddress = "10.0.0.300"\nusername = "a"\npassword = "x"\n', "not an IP"),
        (b'[[subnet]]\ncidr = "10.0.0.1/8"\nusername = "a"\npassword = "x"\n', "not a network"),
        (b'[default\nusername = "a"\n', "invalid TOML"),
        (b'[other]\nusername = "a"\n', "unknown section"),
        (b"", "no \\[default\\]"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_files_are_one_line_errors_without_values(text: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_credentials(text)
    assert "\n" not in str(info.value)


def test_a_value_that_breaks_toml_is_not_echoed() -> None:
    with pytest.raises(UsageError) as info:
        parse_credentials(f'[default]\nusername = "a"\npassword = "{PASSWORD}\n'.encode())
    assert PASSWORD not in str(info.value)


def test_group_or_world_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_bytes(GOOD)
    for mode in (0o644, 0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(UsageError, match="chmod 600"):
            load_credentials(path)
    path.chmod(0o600)
    assert load_credentials(path).default is not None


def test_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "creds.toml"
    path.write_bytes(GOOD)
    path.chmod(0o600)
    monkeypatch.setenv("HIKSCAN_CREDENTIALS", str(path))
    assert load_credentials(None).for_host("10.20.5.9") is not None
    monkeypatch.delenv("HIKSCAN_CREDENTIALS")
    with pytest.raises(UsageError, match="--credentials"):
        load_credentials(None)


def test_directory_or_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="regular file"):
        load_credentials(tmp_path)
    with pytest.raises(UsageError, match="No such file"):
        load_credentials(tmp_path / "missing.toml")
