#!/usr/bin/env python3
"""A deliberately naive Bookshop API (standard library only), for Rampart to protect.

Do not expose it: it trusts every client. It stores whatever JSON it is sent
(mass assignment), returns password hashes and internal fields, tells a wrong
username from a wrong password, answers a missing order with a stack trace,
serves an undocumented admin export, and builds as many books as `limit` asks.

    python3 upstream.py [PORT]      # default 8081, on 127.0.0.1
"""

import hashlib
import json
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOOKS = [
    {"id": 1, "title": "The Pragmatic Programmer", "price": 39.5, "internal_cost": 11.2},
    {"id": 2, "title": "Designing Data-Intensive Applications", "price": 45.0, "internal_cost": 14.9},
    {"id": 3, "title": "Security Engineering", "price": 60.0, "internal_cost": 20.1},
]
USERS = {"alice": "correct horse battery staple"}
ACCOUNTS = {
    1: {
        "id": 1,
        "username": "alice",
        "email": "alice@example.com",
        "is_admin": False,
        "password_hash": hashlib.sha256(USERS["alice"].encode()).hexdigest(),
        "api_token": "tok_live_4f9a1c",
    }
}
ORDERS = {1: {"id": 1, "book_id": 2, "quantity": 1, "card_number": "4111111111111111"}}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server_version = "NaiveBookshop/0.1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Powered-By", "Python/" + sys.version.split()[0])
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/v2/books":
            # Builds as many items as asked: no upper bound.
            limit = int(query.get("limit", ["10"])[0])
            q = query.get("q", [""])[0].lower()
            found = [b for b in BOOKS if q in b["title"].lower()]
            return self.send(200, (found * (limit // max(len(found), 1) + 1))[:limit])
        m = re.fullmatch(r"/v[12]/books/(\d+)", path)
        if m:
            book = next((b for b in BOOKS if b["id"] == int(m.group(1))), None)
            return self.send(200, book) if book else self.send(404, {"error": "no such book"})
        m = re.fullmatch(r"/v2/accounts/(\d+)", path)
        if m:
            account = ACCOUNTS.get(int(m.group(1)))
            return self.send(200, account) if account else self.send(404, {"error": "no such account"})
        m = re.fullmatch(r"/v2/orders/(\d+)", path)
        if m:
            try:
                return self.send(200, ORDERS[int(m.group(1))])
            except KeyError:
                page = "<h1>Internal Server Error</h1><pre>" + traceback.format_exc()
                page += 'psycopg2.errors.UndefinedTable: relation "orders_archive" does not exist\n'
                page += "DATABASE_URL=postgres://shop:hunter2@db.internal:5432/shop</pre>"
                return self.send(500, page.encode(), "text/html")
        if path == "/v2/admin/export":
            # Undocumented: every account, hashes included.
            return self.send(200, list(ACCOUNTS.values()))
        return self.send(404, {"error": "not found", "path": path})

    def do_POST(self):
        path = urlsplit(self.path).path
        try:
            data = self.body()
        except ValueError as e:
            return self.send(400, {"error": "bad json: %s" % e})
        if path == "/v2/accounts":
            with LOCK:
                ident = max(ACCOUNTS) + 1
                # Stores whatever it is given: is_admin included.
                account = dict(data)
                account["id"] = ident
                account["password_hash"] = hashlib.sha256(str(data.get("password", "")).encode()).hexdigest()
                account.pop("password", None)
                account.setdefault("is_admin", False)
                ACCOUNTS[ident] = account
            return self.send(201, account)
        if path == "/v2/login":
            user = data.get("username")
            if user not in USERS:
                return self.send(401, {"error": "no such user"})
            if data.get("password") != USERS[user]:
                return self.send(401, {"error": "wrong password for %s" % user})
            return self.send(200, {"token": "tok_" + hashlib.sha256(user.encode()).hexdigest()[:16]})
        if path == "/v1/orders":
            return self.send(201, {"id": 2})
        return self.send(404, {"error": "not found"})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("naive bookshop upstream on http://127.0.0.1:%d" % port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
