"""The question before a token goes to another gateway: asked for a real move only.

A URL can be written in many forms that all lead to one origin (scheme, host and
port); changing only the form must not ask, and changing where the token goes
must always ask.
"""

import ipaddress

import httpx
from hypothesis import given
from hypothesis import strategies as st

from app.core.secrets import Connection
from app.core.workspace import origin_change

DEFAULT_PORTS = {"http": 80, "https": 443}

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
top_levels = st.from_regex(r"[a-z]{2,6}", fullmatch=True)
names = st.builds(
    lambda parts, top: ".".join([*parts, top]),
    st.lists(labels, min_size=0, max_size=3),
    top_levels,
)
ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
international = st.sampled_from(
    ["bücher.example", "straße.example", "münchen.test", "пример.рф", "例え.テスト"]
)
schemes = st.sampled_from(["http", "https"])
ports = st.none() | st.integers(1, 65535)
paths = st.sampled_from(["", "/", "/api", "/api/v2/", "/queue", "/api/queue/"])


@st.composite
def ascii_origins(draw):
    host = draw(names | ipv4)
    return draw(schemes), host, draw(ports)


@st.composite
def written(draw, scheme, host, port):
    """One of the many ways a person may write ``scheme://host:port``."""
    scheme = "".join(draw(st.sampled_from([c, c.upper()])) for c in scheme)
    if host.isascii():
        host = "".join(draw(st.sampled_from([c, c.upper()])) for c in host)
    if not _is_ip(host) and draw(st.booleans()):
        host += "."
    if port is None and draw(st.booleans()):
        port = DEFAULT_PORTS[scheme.lower()]
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{draw(paths)}"


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _where(scheme, host, port):
    return scheme, host, port or DEFAULT_PORTS[scheme]


def _asks(old_url, new_url):
    return origin_change(Connection(old_url, "stored-token"), new_url) is not None


@given(st.data(), ascii_origins())
def test_another_form_of_the_same_origin_does_not_ask(data, origin):
    old = data.draw(written(*origin))
    new = data.draw(written(*origin))
    assert not _asks(old, new), (old, new)


@given(st.data(), ascii_origins(), ascii_origins())
def test_another_scheme_host_or_port_asks(data, first, second):
    if _where(*first) == _where(*second):
        return
    old = data.draw(written(*first))
    new = data.draw(written(*second))
    assert _asks(old, new), (old, new)


@given(st.data(), ipv6, schemes, ports)
def test_every_form_of_an_ipv6_address_is_one_origin(data, address, scheme, port):
    forms = [address.compressed, address.exploded, address.exploded.upper()]
    old = data.draw(st.sampled_from(forms))
    new = data.draw(st.sampled_from(forms))
    suffix = "" if port is None else f":{port}"
    assert not _asks(f"{scheme}://[{old}]{suffix}", f"{scheme}://[{new}]{suffix}/")


@given(ipv6, ipv6)
def test_another_ipv6_address_asks(first, second):
    if first == second:
        return
    assert _asks(f"https://[{first.exploded}]", f"https://[{second.compressed}]")


@given(st.data(), international, schemes)
def test_an_international_name_and_its_ascii_form_are_one_origin(data, name, scheme):
    ascii_form = httpx.URL(f"http://{name}/").raw_host.decode("ascii")
    forms = [name, ascii_form, ascii_form.upper(), f"{name}.", f"{ascii_form}."]
    old = data.draw(st.sampled_from(forms))
    new = data.draw(st.sampled_from(forms))
    port = data.draw(st.sampled_from(["", f":{DEFAULT_PORTS[scheme]}"]))
    assert not _asks(f"{scheme}://{old}", f"{scheme}://{new}{port}/api")


@given(international, international)
def test_another_international_name_asks(first, second):
    if first == second:
        return
    assert _asks(f"https://{first}", f"https://{second}")


def test_forms_named_by_the_user_do_not_ask():
    for old, new in [
        ("https://gw/", "https://gw:443/"),
        ("http://x", "http://x:80"),
        ("https://gw.example.com", "https://gw.example.com."),
        ("HTTPS://GW.Example.COM", "https://gw.example.com"),
        ("http://[::1]:8080", "http://[0:0:0:0:0:0:0:1]:8080"),
        ("https://xn--bcher-kva.example", "https://bücher.example"),
        ("http://[::ffff:10.0.0.1]", "http://[0:0:0:0:0:FFFF:0a00:0001]"),
    ]:
        assert not _asks(old, new), (old, new)


def test_real_moves_ask_and_name_both_origins():
    for old, new, origins in [
        ("https://gw", "http://gw", ("https://gw", "http://gw")),
        ("https://gw", "https://gw:8443", ("https://gw", "https://gw:8443")),
        ("http://gw:443", "https://gw:443", ("http://gw:443", "https://gw")),
        ("https://gw", "https://gw2", ("https://gw", "https://gw2")),
        (
            "https://strasse.example",
            "https://straße.example",
            ("https://strasse.example", "https://xn--strae-oqa.example"),
        ),
        ("http://[::1]", "http://127.0.0.1", ("http://[::1]", "http://127.0.0.1")),
    ]:
        stored = Connection(old, "stored-token")
        assert origin_change(stored, new) == origins


def test_nothing_is_asked_without_a_stored_token_or_url():
    assert origin_change(Connection("https://gw", None), "https://other") is None
    assert origin_change(Connection(None, "token"), "https://other") is None
