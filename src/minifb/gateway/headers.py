"""Response headers every answer carries: security headers and the request id."""

from __future__ import annotations

from collections.abc import Iterable

RawHeaders = list[tuple[bytes, bytes]]

# Set only when the response has not chosen its own value: an endpoint may
# legitimately say `Cache-Control: public, max-age=300` (the JWKS) or ship a
# richer CSP (the docs page).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    # The API is never meant to be framed; X-Frame-Options for older browsers.
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    # Answers are per viewer (visibility, blocks): no shared cache may keep them.
    (b"cache-control", b"no-store"),
)
# Only meaningful over TLS (browsers ignore it on plain HTTP), so only sent then.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
REQUEST_ID = b"x-request-id"


def with_gateway_headers(
    headers: Iterable[tuple[bytes, bytes]], request_id: bytes, *, https: bool
) -> RawHeaders:
    """`headers` plus the request id and any security header the response did not set."""
    # The id is always ours, the one in the logs, whatever the inner app said.
    result = [(name, value) for name, value in headers if name.lower() != REQUEST_ID]
    present = {name.lower() for name, _ in result}
    result.append((REQUEST_ID, request_id))
    for name, value in SECURITY_HEADERS:
        if name not in present:
            result.append((name, value))
    if https and HSTS[0] not in present:
        result.append(HSTS)
    return result
