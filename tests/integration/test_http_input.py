"""The HTTP endpoints turn bad input away with a 4xx and a short body: a 10,000-character id,
path tricks, NUL bytes, odd unicode, absurd limits, unknown paths, methods the views do not
take, huge headers. Never a 5xx; never a traceback, a file path or a Python exception name.

Requests go over a raw socket, byte for byte as written here: no client library normalises
`..`, re-encodes a path or refuses a header on our behalf.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass

import orjson
import pytest

from tests.integration.conftest import Worker

pytestmark = pytest.mark.integration

#: what must never reach a client: tracebacks, source locations, exception names
LEAKS = re.compile(
    r"Traceback|File \"|\.pyx?\b|site-packages|/(usr|home|root|tmp|opt|var|srv)/"
    r"|\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b"
    r"|\b(LineTooLong|BadStatusLine|BadHttp[A-Za-z]*|InvalidHeader|KeyboardInterrupt"
    r"|SystemExit|StopIteration|CancelledError)\b"
)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def http(
    worker: Worker,
    method: str,
    target: str | bytes,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Answer:
    """One request on a fresh connection, sent exactly as given; the answer as read."""
    raw_target = target.encode() if isinstance(target, str) else target
    lines = [method.encode() + b" " + raw_target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{k}: {v}".encode() for k, v in headers or []]
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    data = b""
    with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as conn:
        with contextlib.suppress(OSError):  # it may answer and close before reading it all
            conn.sendall(request)
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if length and len(rest) >= int(length.group(1)):
                    break
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/"), f"no HTTP answer to {method} {target!r}: {data!r}"
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), parsed, rest)


def assert_turned_away(answer: Answer, what: object) -> None:
    assert 400 <= answer.status < 500, f"{what!r}: {answer.status} {answer.text[:300]}"
    leak = LEAKS.search(answer.text)
    assert leak is None, f"{what!r}: the body shows {leak.group(0)!r}: {answer.text[:300]}"
    kind = answer.headers.get("content-type", "").split(";")[0]
    assert kind in ("application/json", "text/plain"), f"{what!r}: {kind}"
    if kind == "application/json":
        assert "error" in orjson.loads(answer.body), f"{what!r}: {answer.text[:300]}"


LONG_ID = "C" * 10_000

BAD_PATHS = [
    # ids that cannot be one
    f"/customers/{LONG_ID}",
    f"/customers/C-{'a' * 300}",
    f"/customers/C-{'a' * 3000}",
    "/customers/..",
    "/customers/.",
    "/customers/%2e%2e",
    "/customers/%2e%2e%2f",
    "/customers/%2e%2e%2fhealthz",
    "/customers/..%2f..%2fetc%2fpasswd",
    "/customers/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/customers/a%2fb",
    "/customers/%2f",
    "/customers/%2F%2F",
    "/customers/a%5cb",
    "/customers/..%5c..%5cwindows",
    "/customers/%00",
    "/customers/C-1%00",
    "/customers/C-1%00.json",
    "/customers/C-1%0a",
    "/customers/C-1%0d%0aX-Injected:%201",
    "/customers/%C3%A9t%C3%A9",
    "/customers/%F0%9F%98%80",
    "/customers/%EF%BC%A3-1",  # fullwidth C
    "/customers/C-%E2%80%AE1",  # right-to-left override
    "/customers/C-%CC%81",  # a lone combining accent
    "/customers/%ff%fe",  # not UTF-8
    "/customers/%",
    "/customers/%zz",
    "/customers/C%20-1",
    "/customers/-C",
    "/customers/C;1",
    "/customers/C-1'%20OR%20'1'='1",
    "/customers/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    # path tricks that must not reach another view
    "/customers/../healthz",
    "/customers/../../etc/passwd",
    "/customers/C-1/../../healthz",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2fetc%2fpasswd",
    "/static/../../etc/passwd",
    "/healthz/..",
    "/healthz/%2e%2e",
    # unknown paths
    "/nope",
    "/customers",
    "/customers/",
    "/customers/C-1/extra",
    "/admin",
    "/.env",
    "/.git/config",
    "/metrics/extra",
    "/at-risk/1",
    "//etc/passwd",
]

BAD_LIMITS = [
    "-1",
    "abc",
    "1000000000",
    str(10**9),
    "9" * 2000,  # (int() refuses more than 4300 digits; the URL limit comes first)
    "0",
    "1001",
    "",
    "%205",
    "5%20",
    "+5",
    "1e3",
    "0x10",
    "1.5",
    "%C2%B2",  # superscript two: str.isdigit() says yes, int() says no
    "%EF%BC%95",  # fullwidth five
    "%D9%A1",  # arabic-indic one
    "%00",
    "5%00",
    "NaN",
    "Infinity",
    "[]",
]

GET_VIEWS = ["/customers/C-1", "/at-risk", "/healthz", "/metrics", "/stats", "/"]


@pytest.mark.parametrize("path", BAD_PATHS, ids=lambda p: p[:60])
def test_bad_paths_are_turned_away(worker: Worker, path: str) -> None:
    assert_turned_away(http(worker, "GET", path), path)


def test_raw_bytes_in_the_path_are_turned_away(worker: Worker) -> None:
    for target in [
        "/customers/été".encode(),
        b"/customers/\xff",
        b"/customers/C\x00",
        b"/customers/C\x7f",
        "/at-risk?limit=١".encode(),
    ]:
        assert_turned_away(http(worker, "GET", target), target)


@pytest.mark.parametrize("limit", BAD_LIMITS, ids=lambda v: v[:30])
def test_bad_limits_are_turned_away(worker: Worker, limit: str) -> None:
    answer = http(worker, "GET", f"/at-risk?limit={limit}")
    assert_turned_away(answer, limit)
    assert answer.status == 400 and orjson.loads(answer.body)["error"] == "invalid limit"


def test_very_long_query_strings_are_turned_away(worker: Worker) -> None:
    for target in [
        "/at-risk?limit=5&x=" + "a" * 5_000,  # under the HTTP parser's limit: ours
        "/at-risk?x=" + "a" * 20_000,  # over it: aiohttp's
        "/healthz?" + "&".join(f"k{i}=v" for i in range(3_000)),
    ]:
        assert_turned_away(http(worker, "GET", target), target[:60])


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", GET_VIEWS)
def test_other_methods_on_get_views_are_refused(worker: Worker, method: str, path: str) -> None:
    answer = http(worker, method, path, body=b'{"score": 100}' if method != "OPTIONS" else b"")
    assert_turned_away(answer, (method, path))
    assert answer.status == 405
    assert "GET" in answer.headers.get("allow", ""), answer.headers


def test_huge_headers_are_turned_away(worker: Worker) -> None:
    cases: dict[str, list[tuple[str, str]]] = {
        "one 20 KB value": [("X-Big", "v" * 20_000)],
        "a 10 KB name": [("X-" + "n" * 10_000, "1")],
        "a 9 KB cookie": [("Cookie", "c=" + "x" * 9_000)],
        "200 headers": [(f"X-H{i}", "v") for i in range(200)],
        "100 headers of 8 KB": [(f"X-H{i}", "v" * 8_000) for i in range(100)],
        "40 headers of 1 KB": [(f"X-H{i}", "v" * 1_000) for i in range(40)],
    }
    for what, headers in cases.items():
        assert_turned_away(http(worker, "GET", "/healthz", headers), what)


def test_requests_that_are_not_http_are_turned_away(worker: Worker) -> None:
    for method, target in [
        ("GARBAGE", "/"),
        ("FOO", "/healthz"),
        ("GET", "/healthz HTTP/9.9 extra"),
    ]:
        assert_turned_away(http(worker, method, target), (method, target))
    assert_turned_away(
        http(worker, "GET", "/healthz", [("Bad Header", "1")]), "a header name with a space"
    )
    assert_turned_away(
        http(worker, "GET", "/healthz", [("Content-Length", "abc")]), "a bad Content-Length"
    )


def test_good_requests_still_work_and_the_worker_is_unharmed(worker: Worker) -> None:
    assert http(worker, "GET", "/healthz").status == 200
    assert http(worker, "GET", "/at-risk?limit=5").status == 200
    assert http(worker, "GET", "/at-risk?limit=1000").status == 200
    assert http(worker, "GET", "/at-risk?limit=0005").status == 200
    unknown = http(worker, "GET", "/customers/C-never-seen")
    assert unknown.status == 404 and orjson.loads(unknown.body)["error"] == "unknown customer"
    longest = http(worker, "GET", "/customers/C" + "x" * 127)
    assert longest.status == 404, longest.text
    assert http(worker, "HEAD", "/healthz").status == 200
    assert worker.alive()
    # no view ever failed: every answer above was a deliberate one
    assert "error answering" not in worker.log_path.read_text(errors="replace")


def test_livez_answers_while_the_process_serves(worker: Worker) -> None:
    answer = http(worker, "GET", "/livez")
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert orjson.loads(answer.body) == {"status": "alive"}
