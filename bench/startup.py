#!/usr/bin/env python3
"""Start-up to first served request: starts batond (environment inherited, BATON_LISTEN
must be set), polls GET /healthz over a raw socket in a tight loop from the moment of
exec, and prints the milliseconds until the first 200; stops batond with SIGTERM.

  startup.py BATOND_BINARY RUNS     prints "STARTUP median_ms=… min_ms=… max_ms=…"
"""
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def first_ok_ms(binary: str, host: str, port: int) -> float:
    log = open(os.environ.get("BENCH_STARTUP_LOG", os.devnull), "ab")
    start = time.monotonic()
    proc = subprocess.Popen([binary], stdout=log, stderr=log)
    try:
        deadline = start + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"startup.py: batond exited with {proc.returncode}")
            try:
                with socket.create_connection((host, port), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    head = s.recv(64)
                    if head.startswith(b"HTTP/1.1 200"):
                        return (time.monotonic() - start) * 1000
            except OSError:
                pass
            time.sleep(0.0002)
        raise SystemExit("startup.py: no answer within 10 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main() -> None:
    binary, runs = sys.argv[1], int(sys.argv[2])
    host, port = os.environ["BATON_LISTEN"].rsplit(":", 1)
    times = [first_ok_ms(binary, host, int(port)) for _ in range(runs)]
    print(f"STARTUP median_ms={statistics.median(times):.1f} min_ms={min(times):.1f} max_ms={max(times):.1f}")


if __name__ == "__main__":
    main()
