"""A real HTTP server on 127.0.0.1 for the fetch tests: no mocks, only a local network."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import pytest


@dataclass
class Route:
    body: bytes
    fail_first: int = 0  # answer 503 this many times before serving the body
    truncate_first: int = 0  # send a short body (Content-Length says more) this many times
    hits: int = 0


@dataclass
class LocalServer:
    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)

    def serve(self, path: str, body: bytes, **kwargs) -> str:
        self.routes[path] = Route(body, **kwargs)
        return f"{self.base_url}{path}"

    def hits(self, path: str) -> int:
        return self.routes[path].hits


@pytest.fixture
def http_server():
    server_state = LocalServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            route = server_state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            route.hits += 1
            if route.hits <= route.fail_first:
                self.send_error(503, "Service Unavailable")
                return
            body = route.body
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if route.hits <= route.fail_first + route.truncate_first:
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
