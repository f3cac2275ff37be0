"""A loopback HTTP proxy in front of the test S3 server that records every request as it arrived
(``requests``), optionally terminates TLS (``tls``: certificate and key files), and misbehaves on purpose.

``strip_if_none_match``: removes the ``If-None-Match`` header from every request (the negative control of
the race test: without the condition, several writers must win). ``cut_uploads``: every upload request
with a body loses its connection halfway through the body. ``drop_put_replies``: for the first N
successful PUT requests (an object PUT or a CompleteMultipartUpload POST), forwards the request, lets the
server commit it, then closes the client's connection without the reply (a lost reply: the client's retry
finds its own object). A request whose headers were changed is signed again (SigV4, with ``credentials``),
since ``If-None-Match`` is one of the signed headers.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names


class MisbehavingProxy:
    def __init__(self, upstream: str, *, strip_if_none_match: bool = False, drop_put_replies: int = 0,
                 credentials: tuple[str, str] | None = None, cut_uploads: bool = False,
                 tls: tuple[str, str] | None = None) -> None:
        target = urlsplit(upstream)
        self.host, self.port = target.hostname or "127.0.0.1", target.port or 80
        self.strip = strip_if_none_match
        self.drops_left = drop_put_replies
        self.credentials = credentials
        self.cut_uploads = cut_uploads
        self.cut: list[str] = []
        self.dropped: list[str] = []
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if proxy.cut_uploads and self.command in ("PUT", "POST") and length:
                    self.rfile.read(length // 2)  # half the body arrives, then the connection drops
                    with proxy.lock:
                        proxy.cut.append(f"{self.command} {self.path}")
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                split = urlsplit(self.path)
                with proxy.lock:
                    proxy.requests.append(Seen(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                                               {k.lower(): v for k, v in headers.items()}))
                if proxy.strip and any(k.lower() == "if-none-match" for k in headers):
                    headers = proxy.resign(self.command, self.path, body,
                                           {k: v for k, v in headers.items() if k.lower() != "if-none-match"})
                upstream_conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                try:
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    reply = upstream_conn.getresponse()
                    data = reply.read()
                finally:
                    upstream_conn.close()
                is_put = self.command == "PUT" and "partNumber=" not in self.path or (
                    self.command == "POST" and "uploadId=" in self.path)
                if is_put and reply.status == 200:
                    with proxy.lock:
                        drop = proxy.drops_left > 0
                        if drop:
                            proxy.drops_left -= 1
                            proxy.dropped.append(f"{self.command} {self.path}")
                    if drop:
                        self.close_connection = True
                        self.connection.shutdown(2)  # the server committed; the client never hears it
                        return
                self.send_response(reply.status, reply.reason)
                for k, v in reply.getheaders():
                    if k.lower() not in _HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.endpoint = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def resign(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        if self.credentials is None:
            raise RuntimeError("stripping a signed header needs the credentials to sign the request again")
        keep = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-amz-date")}
        request = AWSRequest(method=method, url=f"http://{self.host}:{self.port}{path}", data=body, headers=keep)
        S3SigV4Auth(Credentials(*self.credentials), "s3", "us-east-1").add_auth(request)
        return dict(request.headers.items())

    def __enter__(self) -> "MisbehavingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
