#!/usr/bin/env python3
"""The demo's purchase log as an HTTP participant (purchase_demo --http).

A service in the stdlib alone that speaks caf-saga's HTTP protocol
(docs/http-participants.md) and keeps its own data, in memory:

  POST /log_purchase             body {realm, playerId, itemId, price}:
                                 records purchase Saga-Id -> price in the
                                 realm; 200 {"logged": id, "price": price}
  POST /log_purchase/compensate  removes it; 200 {"removed": true|false}
  GET  /purchases?realm=R        200 {saga id: price (a JSON number), ...}

It is the reference of a service's duties. Every operation may come more
than once and overlapping (a timed-out attempt still running when the retry
arrives), and an execute may arrive after its compensation (it was in flight
when the step timed out). So each step's state lives under one lock, kept
under its execute's Idempotency-Key (`<saga id>/<step>/execute`; the
compensation's key names the same step), and is decided there: an execute
does its work once and answers every repeat as the first; a compensation
undoes it, or, for an execute never seen, leaves a tombstone, so that the
late execute does nothing and answers 409 ("failed without effect", which is
then true). The state is never dropped: the demo is short.

Faults, on executes only (as the C++ game servers): --fail-rate P answers
500 before doing anything; --slow-rate P sleeps 1.5 s before taking the
lock, so the state is read after the sleep. Prints `ready port=N` once
listening on 127.0.0.1; ends cleanly on SIGTERM.
"""

import argparse
import json
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SLOW_DELAY_S = 1.5

EXECUTED = "executed"
COMPENSATED = "compensated"


class PurchaseLog:
    """The purchases and each step's state, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.purchases = {}  # realm -> {saga id: price}
        self.steps = {}  # execute's key -> (state, realm, result)

    def execute(self, key, saga_id, realm, price):
        """Returns (status, body) of an execute; records at most once."""
        with self.lock:
            state = self.steps.get(key)
            if state is None:
                result = {"logged": saga_id, "price": price}
                self.purchases.setdefault(realm, {})[saga_id] = price
                self.steps[key] = (EXECUTED, realm, result)
                return 200, result
            if state[0] == EXECUTED:
                return 200, state[2]  # a repeat: the first answer again
            # Compensated first: this execute came late and must not act.
            return 409, {"error": "compensated before this execute arrived"}

    def compensate(self, key, saga_id):
        """Returns (status, body) of a compensation; undoes at most once."""
        with self.lock:
            state = self.steps.get(key)
            removed = False
            if state is not None and state[0] == EXECUTED:
                self.purchases.get(state[1], {}).pop(saga_id, None)
                removed = True
            if state is None or state[0] == EXECUTED:
                # A tombstone also for an execute never seen: it may come.
                self.steps[key] = (COMPENSATED, None, removed)
                return 200, {"removed": removed}
            return 200, {"removed": state[2]}  # a repeat

    def realm(self, realm):
        with self.lock:
            return dict(self.purchases.get(realm, {}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as caf-saga's client pools
    disable_nagle_algorithm = True  # headers and body are two writes

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = urlsplit(self.path).path
        saga_id = self.headers.get("Saga-Id", "")
        # "<saga id>/<step>/<operation>": the step is all but the last part.
        idempotency_key = self.headers.get("Idempotency-Key", "")
        step_key, _, op = idempotency_key.rpartition("/")
        key = step_key + "/execute"
        if not saga_id or not step_key.startswith(saga_id + "/"):
            self.answer(409, {"error": "no Saga-Id or Idempotency-Key"})
        elif path == "/log_purchase" and op == "execute":
            self.execute(key, saga_id, body)
        elif path == "/log_purchase/compensate" and op == "compensate":
            self.answer(*self.server.log.compensate(key, saga_id))
        else:
            self.answer(404, {"error": "no such action: " + path})

    def execute(self, key, saga_id, body):
        faults = self.server.faults
        if faults.roll() < faults.fail_rate:
            self.answer(500, {"error": "injected failure in " + key})
            return
        if faults.roll() < faults.slow_rate:
            time.sleep(SLOW_DELAY_S)  # past the 1 s timeout: overlap
        try:
            payload = json.loads(body)
            realm, price = str(payload["realm"]), int(payload["price"])
        except (ValueError, KeyError, TypeError) as e:
            # Refused without acting: 409, or the saga would compensate.
            self.answer(409, {"error": "bad payload: " + repr(e)})
            return
        self.answer(*self.server.log.execute(key, saga_id, realm, price))

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/purchases":
            self.answer(404, {"error": "no such resource: " + url.path})
            return
        realm = parse_qs(url.query).get("realm", [""])[0]
        self.answer(200, self.server.log.realm(realm))

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # hundreds of requests a second: no access log


class Faults:
    def __init__(self, fail_rate, slow_rate, seed):
        self.fail_rate = fail_rate
        self.slow_rate = slow_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()  # one generator, many threads

    def roll(self):
        with self.lock:
            return self.rng.random()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the client opens up to 16 connections at once

    def handle_error(self, request, client_address):
        # The client closes a connection whose request timed out (a slow
        # answer): writing to it then fails, which is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--slow-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None, help="default: random")
    args = p.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.log = PurchaseLog()
    server.faults = Faults(args.fail_rate, args.slow_rate, args.seed)
    # serve_forever runs on this thread: leave it by an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready port=%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
