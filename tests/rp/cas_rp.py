"""A small campus system that signs in through the hall with python-cas (a widely used CAS
client), for the browser tests: `python3 cas_rp.py PORT CAS_SERVER_URL`.

GET /          who is signed in here, with the CAS attributes (or a 登录 link)
GET /login     to the hall's /cas/login
GET /callback  ?ticket=…: validated with python-cas (CAS 3.0, /p3/serviceValidate)
POST /callback CAS single logout: the logoutRequest ends the session it names
GET /logout    to the hall's /cas/logout, back here afterwards
GET /slo       the session indexes single logout ended (for the test)
"""

import html
import http.server
import secrets
import sys
import urllib.parse

from cas import CASClient

PORT = int(sys.argv[1])
HERE = f"http://127.0.0.1:{PORT}"
CAS = CASClient(version=3, service_url=f"{HERE}/callback", server_url=sys.argv[2])

sessions = {}  # cookie -> (user, attributes, ticket)
ended = []


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body="", headers=()):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def session(self):
        for part in self.headers.get("Cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "cas_rp" and v in sessions:
                return v
        return None

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/":
            sid = self.session()
            if sid is None:
                return self.send(200, '<h1 id="anon">一卡通系统</h1><a id="login" href="/login">统一身份认证登录</a>')
            user, attrs, _ = sessions[sid]
            rows = "".join(
                f'<dt>{html.escape(k)}</dt><dd data-attr="{html.escape(k)}">{html.escape(str(v))}</dd>'
                for k, v in sorted(attrs.items())
            )
            return self.send(200, f'<h1 id="who">{html.escape(user)}</h1><dl id="attrs">{rows}</dl><a id="logout" href="/logout">退出</a>')
        if url.path == "/login":
            return self.send(302, headers=[("Location", CAS.get_login_url())])
        if url.path == "/callback":
            ticket = query.get("ticket", "")
            user, attrs, _ = CAS.verify_ticket(ticket)
            if not user:
                return self.send(403, '<h1 id="refused">验证失败</h1>')
            sid = secrets.token_urlsafe(16)
            sessions[sid] = (user, attrs or {}, ticket)
            return self.send(302, headers=[("Location", "/"), ("Set-Cookie", f"cas_rp={sid}; Path=/; HttpOnly")])
        if url.path == "/logout":
            return self.send(302, headers=[("Location", CAS.get_logout_url(f"{HERE}/"))])
        if url.path == "/slo":
            return self.send(200, "\n".join(ended))
        return self.send(404, "not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8")))
        request = form.get("logoutRequest")
        if urllib.parse.urlsplit(self.path).path == "/callback" and request:
            for sid, (_, _, ticket) in list(sessions.items()):
                if CAS.verify_logout_request(request, ticket):
                    del sessions[sid]
                    ended.append(ticket)
            return self.send(200, "ok")
        return self.send(400, "bad request")


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
