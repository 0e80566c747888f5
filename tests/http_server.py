"""A real HTTP file server on 127.0.0.1 for tests: Range requests, request log, cut-off responses."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FileServer:
    """Serves the files under `root` at `url` on a free port until `close()` (or the `with` block ends).

    `cut[path] = n` makes the next response for `path` stop after n body bytes and drop the
    connection, as a broken download does. `log` holds (path, Range header) of every request.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.cut: dict[str, int] = {}
        self.log: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = unquote(urlsplit(self.path).path)
                server.log.append((path, self.headers.get("Range")))
                file = (server.root / path.lstrip("/")).resolve()
                if not file.is_file() or server.root not in file.parents:
                    self.send_error(404)
                    return
                data = file.read_bytes()
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                start = int(match.group(1)) if match else 0
                if start >= len(data) and match:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if match else 200)
                if match:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = data[start:]
                if path in server.cut:
                    body = body[: server.cut.pop(path)]
                    self.close_connection = True
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> FileServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
