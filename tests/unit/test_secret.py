"""drkit.secret.Secret never shows its value: not through str, repr, formatting, logging or errors."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest

from drkit.secret import Secret

VALUE = "hunter2-a-value-no-output-may-hold"


@pytest.fixture(params=[VALUE, VALUE.encode()], ids=["str", "bytes"])
def secret(request: pytest.FixtureRequest) -> Secret:
    return Secret(request.param)


def _shows_no_value(text: str) -> None:
    assert VALUE not in text
    assert "hunter2" not in text
    assert "********" in text


def test_str_repr_and_formatting_show_a_mask(secret: Secret) -> None:
    _shows_no_value(str(secret))
    _shows_no_value(repr(secret))
    _shows_no_value(f"{secret}")
    _shows_no_value(f"{secret!s}")
    _shows_no_value(f"{secret!r}")
    _shows_no_value(f"{secret:>40}")
    _shows_no_value("%s" % secret)  # noqa: UP031 - the %-operator is what old code and logging use
    _shows_no_value("%r" % (secret,))  # noqa: UP031
    _shows_no_value("{}".format(secret))  # noqa: UP032
    _shows_no_value(format(secret, ""))
    _shows_no_value(str([secret, {"password": secret}]))


def test_logging_with_a_secret_argument_shows_a_mask(
    secret: Secret, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("drkit.test.secret")
    with caplog.at_level(logging.DEBUG, logger="drkit.test.secret"):
        log.info("passphrase is %s", secret)
        log.info("passphrase is %r", secret)
        log.warning("in a dict: %(password)s", {"password": secret})
        log.error("as an object: %s", {"token": secret})
    assert len(caplog.records) == 4
    for text in [*caplog.messages, caplog.text]:
        _shows_no_value(text)


def test_an_exception_carrying_a_secret_shows_a_mask(
    secret: Secret, caplog: pytest.LogCaptureFixture
) -> None:
    err = ValueError("bad passphrase", secret)
    _shows_no_value(str(err))
    _shows_no_value(repr(err))
    wrapped = RuntimeError(f"could not open the repository with {secret}")
    _shows_no_value(str(wrapped))
    try:
        raise err
    except ValueError:
        _shows_no_value("".join(traceback.format_exc()))
        with caplog.at_level(logging.ERROR, logger="drkit.test.secret"):
            logging.getLogger("drkit.test.secret").exception("failed: %s", secret)
    _shows_no_value(caplog.text)


def test_reveal_gives_the_value_and_equality_compares_it() -> None:
    assert Secret(VALUE).reveal() == VALUE
    assert Secret(VALUE).reveal_bytes() == VALUE.encode()
    assert Secret(VALUE.encode()).reveal_bytes() == VALUE.encode()
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret("other")
    assert Secret(VALUE) != VALUE
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))


def test_a_secret_is_not_pickled(secret: Secret) -> None:
    with pytest.raises(TypeError, match=r"^a Secret is not pickled$"):
        pickle.dumps(secret)


def test_distinct_secrets_hash_apart() -> None:
    # A set or dict of secrets (keyring passphrases, tokens) stays a hash table, not one long chain.
    hashes = {hash(Secret(f"passphrase-{i}")) for i in range(64)}
    assert len(hashes) > 60
    assert len({Secret(f"passphrase-{i}") for i in range(64)}) == 64
