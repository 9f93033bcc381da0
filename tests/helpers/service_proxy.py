"""A Service's virtual address for the Docker harness: listen on the Service's ports, forward to ready endpoints.

Runs inside a container (standard library only) whose network aliases are the Service's DNS names, so a client
that connects to ``mlflow:5000`` reaches this process, as it would reach kube-proxy's rules in a cluster. Each
connection reads the endpoints file the harness keeps up to date (the ready pods' addresses and resolved target
ports, as an EndpointSlice holds them) and is forwarded to one of them, round robin. Whatever cannot be forwarded
is printed as one ``FORWARD-FAILED`` line naming the Service and port, which the harness reads back.

    python3 service_proxy.py SERVICE ENDPOINTS_FILE PORT [PORT ...]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
from pathlib import Path

BUFFER = 65536
CONNECT_SECONDS = 5


def endpoints(path: str, port: int) -> list[tuple[str, int]]:
    try:
        with Path(path).open(encoding="utf-8") as handle:
            return [(str(ip), int(target)) for ip, target in json.load(handle).get(str(port), [])]
    except (OSError, ValueError):
        return []


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def forward(client: socket.socket, service: str, port: int, path: str, turn: itertools.count[int]) -> None:
    targets = endpoints(path, port)
    if not targets:
        print(f"FORWARD-FAILED service={service} port={port} reason=no ready endpoints", flush=True)
        client.close()
        return
    ip, target = targets[next(turn) % len(targets)]
    try:
        upstream = socket.create_connection((ip, target), timeout=CONNECT_SECONDS)
    except OSError as exc:
        print(f"FORWARD-FAILED service={service} port={port} target={ip}:{target} reason={exc}", flush=True)
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)


def serve(service: str, path: str, port: int) -> None:
    listener = socket.create_server(("0.0.0.0", port), reuse_port=False)
    turn = itertools.count()
    while True:
        client, _ = listener.accept()
        threading.Thread(target=forward, args=(client, service, port, path, turn), daemon=True).start()


def main(argv: list[str]) -> None:
    service, path, *ports = argv
    for port in ports[1:]:
        threading.Thread(target=serve, args=(service, path, int(port)), daemon=True).start()
    print(f"service {service}: listening on {', '.join(ports)}", flush=True)
    serve(service, path, int(ports[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
