import base64
import logging

from app.core.redact import RedactingFilter, Redactor

TOKEN = "tok_0123456789abcdef"


def test_known_secrets_and_their_base64_forms_are_removed():
    redactor = Redactor()
    redactor.add(TOKEN)
    encoded = base64.b64encode(TOKEN.encode()).decode()
    text = redactor.redact(f"a {TOKEN} b {encoded} c {encoded.rstrip('=')}")
    assert TOKEN not in text
    assert encoded.rstrip("=") not in text
    assert text.count("[REDACTED]") == 3


def test_secret_shaped_text_is_removed_even_when_unknown():
    redactor = Redactor()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = redactor.redact(
        f"Authorization: Bearer abc.def-123 and {jwt} and token=zzzz9999"
    )
    assert "abc.def-123" not in text
    assert jwt not in text
    assert "zzzz9999" not in text
    assert "Bearer [REDACTED]" in text


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks(tmp_path):
    redactor = Redactor()
    redactor.add(TOKEN)
    path = tmp_path / "log.txt"
    handler = logging.FileHandler(path)
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        logger.warning("token is %s", TOKEN)
        try:
            raise ValueError(f"bad {TOKEN}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    content = path.read_text()
    assert TOKEN not in content
    assert "ValueError" in content
    assert content.count("[REDACTED]") == 2


def test_url_encoded_forms_of_a_known_secret_are_removed():
    redactor = Redactor()
    secret = "a+b/c=d&e"
    redactor.add(secret)
    text = redactor.redact("q=a%2Bb%2Fc%3Dd%26e and a%2Bb%2Fc%3Dd%26e")
    assert "a%2Bb" not in text
