"""One local HTTP server for the tests that stand in for OpenAI-compatible endpoints (chat, audio chat, speech).

`serve_http(handle)` runs a threaded server on 127.0.0.1 (a free port) and yields its `/v1` base URL; `handle(path,
headers, body_bytes)` returns `(status, payload)` where payload is a dict (sent as JSON) or `(bytes, content_type)`.
"""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(message: dict) -> dict:
    """A chat-completions response holding one assistant `message`."""
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@contextlib.contextmanager
def serve_http(handle):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, payload = handle(self.path, self.headers, body)
            data, kind = (json.dumps(payload).encode(), "application/json") if isinstance(payload, dict) else payload
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("retry-after-ms", "5")  # keeps the openai client's backoff short in tests
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
