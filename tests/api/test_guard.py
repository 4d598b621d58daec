"""NFR-008: which writes the operator API lets through; plain code, no sockets."""

from __future__ import annotations

import pytest

from dq_monitor.api.guard import WriteGuard, split_host

JSON = {"content-type": "application/json"}
TOKEN = "0123456789abcdef-token"


def loopback(**kw: object) -> WriteGuard:
    return WriteGuard(token=None, bind_host="127.0.0.1", port=9464, **kw)  # type: ignore[arg-type]


@pytest.mark.req("NFR-008")
@pytest.mark.parametrize(("value", "parsed"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), ("LocalHost.:9464", ("localhost", 9464)),
    ("[::1]:9464", ("::1", 9464)), ("[0:0::1]", ("::1", None)),
    ("dq.example.com", ("dq.example.com", None)),
    ("::1", None), ("evil.com@127.0.0.1", None), ("a:b", None), ("a:999999", None), ("", None),
    ("[::1", None), ("a/b:1", None),
])
def test_host_values_are_parsed_strictly(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(value) == parsed


@pytest.mark.req("NFR-008", "FR-019")
@pytest.mark.parametrize("host", ["127.0.0.1:9464", "localhost:9464", "[::1]:9464"])
def test_a_json_write_from_this_machine_passes(host: str) -> None:
    assert loopback().check("POST", {"host": host, **JSON}) is None
    origin = {"origin": f"http://{host}"}
    assert loopback().check("POST", {"host": host, **JSON, **origin}) is None
    charset = {"content-type": "Application/JSON; charset=UTF-8"}
    assert loopback().check("POST", {"host": host, **charset}) is None
    assert loopback().check("DELETE", {"host": host}) is None  # no body, no type needed


@pytest.mark.req("NFR-008", "FR-019")
@pytest.mark.parametrize(("headers", "status", "reason"), [
    ({"host": "evil.example:9464"}, 403, "does not name this server"),  # DNS rebinding
    ({"host": "127.0.0.1:9465"}, 403, "does not name this server"),  # another port
    ({"host": "127.0.0.1"}, 403, "does not name this server"),  # port 80 implied
    ({"host": None}, 403, "does not name this server"),
    ({"origin": "http://evil.example"}, 403, "cross-site write refused"),
    ({"origin": "null"}, 403, "cross-site write refused"),
    ({"origin": "http://127.0.0.1:9465"}, 403, "cross-site write refused"),
    ({"origin": "https://127.0.0.1:9464/x"}, 403, "cross-site write refused"),
    ({"content-type": "text/plain"}, 415, "application/json"),
    ({"content-type": "text/plain; x=application/json"}, 415, "application/json"),
    ({"content-type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ({"content-type": "multipart/form-data; boundary=x"}, 415, "application/json"),
    ({"content-type": "application/json; charset=latin-1"}, 415, "application/json"),
    ({"content-type": None}, 415, "application/json"),
])
def test_cross_site_and_non_json_writes_are_refused(headers: dict[str, str | None], status: int,
                                                    reason: str) -> None:
    given = {"host": "127.0.0.1:9464", **JSON, **headers}
    refusal = loopback().check("POST", {k: v for k, v in given.items() if v is not None})
    assert refusal is not None and refusal.status == status and reason in refusal.reason


@pytest.mark.req("NFR-008")
def test_listed_hosts_and_the_address_a_connection_reached_are_allowed() -> None:
    guard = WriteGuard(token=TOKEN, bind_host="0.0.0.0", port=9464,
                       allowed_hosts=["dq.example.com", "proxy.example:8443"])
    auth = {"authorization": f"Bearer {TOKEN}", **JSON}
    for host in ("dq.example.com", "dq.example.com:9464", "proxy.example:8443"):
        assert guard.check("POST", {"host": host, **auth}) is None
    assert guard.check("POST", {"host": "proxy.example:9464", **auth}) is not None
    assert guard.check("POST", {"host": "localhost:9464", **auth}) is not None  # not loopback
    assert guard.check("POST", {"host": "10.1.2.3:9464", **auth}, ("10.1.2.3", 9464)) is None
    assert guard.check("POST", {"host": "10.1.2.3:9464", **auth}, ("10.9.9.9", 9464)) is not None
    origin = {"origin": "https://dq.example.com", "host": "dq.example.com"}
    assert guard.check("POST", {**origin, **auth}) is None


@pytest.mark.req("NFR-008", "FR-019")
def test_the_token_is_checked_and_never_echoed() -> None:
    guard = WriteGuard(token=TOKEN, bind_host="0.0.0.0", port=9464)
    base = {"host": "10.0.0.1:9464", **JSON}
    for given in ("", "Bearer ", f"Bearer {TOKEN[:-1]}", TOKEN):
        refusal = guard.check("POST", {**base, "authorization": given}, ("10.0.0.1", 9464))
        assert refusal is not None and refusal.status == 401 and TOKEN not in refusal.reason
    open_guard = WriteGuard(token=None, bind_host="0.0.0.0", port=9464)
    refusal = open_guard.check("POST", base, ("10.0.0.1", 9464))
    assert refusal is not None and refusal.status == 403
