#!/usr/bin/env python3
"""A local stand-in for the SMS gateway and 企业微信 that records every message it receives.

usage: mock-gateway.py PORT LOG
  POST /sms/send              -> 200, logs {"channel": "sms", "key": <Idempotency-Key>, "phone": ...}
  GET  /cgi-bin/gettoken      -> a token
  POST /cgi-bin/message/send  -> errcode 0, logs {"channel": "wecom", "touser": ..., "text": ...}
One JSON object per line in LOG, so scripts/cluster can count receipts per message.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


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
            log({"channel": "sms", "key": self.headers.get("idempotency-key"), "phone": body.get("phone")})
            self.reply({"ok": True})
        elif self.path.startswith("/cgi-bin/message/send"):
            log({"channel": "wecom", "touser": body.get("touser"), "text": body.get("text", {}).get("content")})
            self.reply({"errcode": 0, "errmsg": "ok"})
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
