#!/usr/bin/env python3
"""Measures the request-size limits a running batond enforces, over raw sockets:

  limits.py HOST:PORT [API_TOKEN]

- the largest request header block `GET /healthz` accepts (one `X-Pad` header grown by
  bisection; above it libmicrohttpd answers 431 or closes the connection), which follows
  the connection memory pool (ServerSettings.connectionMemoryBytes);
- the body limit: a `POST /leader` body of exactly 64 KiB must not get 413, one byte more
  must (ServerSettings.maxBodyBytes).

Prints one `LIMITS_RESULT` line. Used to check a change of the pool size (issue 17).
"""
import socket
import sys


def status(host: str, port: int, raw: bytes) -> int:
    """The status code of the answer to `raw`, or 0 when the connection closed without one."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while b"\r\n" not in data:
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                return 0
            if not chunk:
                return 0
            data += chunk
        parts = data.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def header_request(pad: int) -> bytes:
    return (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * pad + b"\r\nConnection: close\r\n\r\n")


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    token = sys.argv[2] if len(sys.argv) > 2 else ""
    lo, hi = 0, 256 * 1024
    if status(host, port, header_request(lo)) != 200:
        raise SystemExit("limits.py: /healthz does not answer 200 to a small request")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if status(host, port, header_request(mid)) == 200:
            lo = mid
        else:
            hi = mid
    header_bytes = len(header_request(lo)) - 4  # the header block without its final CRLF CRLF
    over = status(host, port, header_request(hi))

    def body_status(n: int) -> int:
        # A JSON object padded with spaces to exactly n bytes: the limit is on bytes.
        body = b'{"lease":"limits","holder":"limits"}'
        body = body[:-1] + b" " * (n - len(body)) + b"}"
        head = (f"POST /leader HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        return status(host, port, head + body)

    at_limit, above = body_status(64 * 1024), body_status(64 * 1024 + 1)
    print(f"largest accepted header block: {header_bytes} bytes (X-Pad of {lo}); one byte more: status {over or 'closed'}")
    print(f"POST /leader body of 65536 bytes: {at_limit}; 65537 bytes: {above}")
    ok = at_limit not in (0, 413) and above == 413
    print(f"LIMITS_RESULT header_block_bytes={header_bytes} header_over_status={over} body_64k_status={at_limit} "
          f"body_64k_plus1_status={above} body_limit_ok={'yes' if ok else 'no'}")


if __name__ == "__main__":
    main()
