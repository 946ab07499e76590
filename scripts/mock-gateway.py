#!/usr/bin/env python3
"""A local stand-in for the SMS gateway and 企业微信 that records every message it receives,
with the de-duplication the real protocols promise:
  - SMS: a request repeating an `Idempotency-Key` already accepted is answered 200 and not
    sent again (what the portal's HTTP gateway contract asks of a provider);
  - 企业微信 message/send: with `enable_duplicate_check` 1, the same content to the same user
    within `duplicate_check_interval` seconds (default 1800) is not sent again (WeCom's
    documented behaviour).

usage: mock-gateway.py PORT LOG
  POST /sms/send              -> 200, logs {"channel": "sms", "key": ..., "phone": ..., "dup": bool}
  GET  /cgi-bin/gettoken      -> a token
  POST /cgi-bin/message/send  -> errcode 0, logs {"channel": "wecom", "touser": ..., "text": ..., "dup": bool}
One JSON object per line in LOG ("dup": a repeat the gateway dropped), so scripts/cluster can
count what reached people and what was sent again after a crash.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
seen_keys = set()
seen_wecom = {}  # (touser, content) -> when it was last sent


def log(entry):
    with lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/cgi-bin/gettoken"):
            self.reply({"errcode": 0, "access_token": "mock-token", "expires_in": 7200})
        else:
            self.reply({"ok": True})

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if self.path.startswith("/sms/send"):
            key = self.headers.get("idempotency-key")
            with lock:
                dup = key is not None and key in seen_keys
                seen_keys.add(key)
            log({"channel": "sms", "key": key, "phone": body.get("phone"), "dup": dup})
            self.reply({"ok": True})
        elif self.path.startswith("/cgi-bin/message/send"):
            touser, text = body.get("touser"), body.get("text", {}).get("content")
            now = time.monotonic()
            with lock:
                last = seen_wecom.get((touser, text))
                window = int(body.get("duplicate_check_interval") or 1800)
                dup = bool(body.get("enable_duplicate_check")) and last is not None and now - last < window
                if not dup:
                    seen_wecom[(touser, text)] = now
            log({"channel": "wecom", "touser": touser, "text": text, "dup": dup})
            self.reply({"errcode": 0, "errmsg": "ok"})
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
