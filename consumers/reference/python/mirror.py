#!/usr/bin/env python3
"""A downstream system's own copy of lethe's customers, in Python.

It subscribes to the users topic and the erasure topic, keeps one table,
customers(user_id, email, name, role, active, version), in SQLite, and opens
the sealed email and name with keys it fetches from `lethe serve`
(POST /key-releases), signed in as a service account entitled to the users
topic. When `user.erased` arrives it deletes that person's row and forgets
their key; a key that answers 410 means the same. docs/sealed-format.md is
the whole of what it knows about sealing: it shares no code with lethe.

    mirror.py --brokers 127.0.0.1:19092 --topic-prefix lethe. \\
              --api http://127.0.0.1:8080 --db customers.sqlite [--until-idle 5]

The service's API key comes from LETHE_SERVICE_TOKEN. Offsets are committed
after the SQLite transaction that applied the messages, so a restart applies
nothing twice (a row keeps the stream version it reflects) and loses nothing.
"""
import argparse
import base64
import json
import logging
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, KafkaError
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError

log = logging.getLogger("mirror")

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
  user_id TEXT PRIMARY KEY, email TEXT, name TEXT, role TEXT NOT NULL,
  active INTEGER NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS erased (user_id TEXT PRIMARY KEY);
"""


class Gone(Exception):
    """The person is erased: lethe destroyed their key."""


class Keys:
    """Keys fetched from lethe, by (person, key version), in memory only."""

    def __init__(self, api, token):
        self.api, self.token, self.cache = api.rstrip("/"), token, {}

    def key(self, person, kid):
        if (person, kid) not in self.cache:
            body = json.dumps({"user_id": person, "topic": "users"}).encode()
            request = urllib.request.Request(
                self.api + "/key-releases", data=body, method="POST",
                headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    released = json.load(answer)
            except urllib.error.HTTPError as e:
                if e.code == 410:
                    raise Gone(person) from None
                raise RuntimeError(f"key release for {person}: HTTP {e.code} {e.read()[:200]!r}") from None
            if released["key_id"] != kid:
                raise RuntimeError(f"lethe released key {released['key_id']} of {person}, the value names {kid}")
            self.cache[(person, kid)] = base64.b64decode(released["key"], validate=True)
        return self.cache[(person, kid)]

    def forget(self, person):
        for k in [k for k in self.cache if k[0] == person]:
            del self.cache[k]


def opened(keys, event_id, field, value):
    """A payload member's clear text: as it is when not sealed, None when
    the value is null (its person was erased before the event)."""
    if not isinstance(value, dict) or value.get("sealed") != "xchacha20poly1305":
        return value
    if "sub2" in value:
        raise RuntimeError(f"{field}: a two-person value; the users topic has none")
    key = keys.key(value["sub"], value["kid"])
    associated = event_id.encode() + b"\0" + field.encode()
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
            base64.b64decode(value["c"], validate=True), associated,
            base64.b64decode(value["n"], validate=True), key)
    except CryptoError:
        raise RuntimeError(f"{field} of event {event_id} does not authenticate") from None
    text = plain.decode("utf-8")
    return json.loads(text) if value.get("t") == "json" else text


def forget(db, keys, person):
    db.execute("DELETE FROM customers WHERE user_id = ?", (person,))
    db.execute("INSERT OR IGNORE INTO erased (user_id) VALUES (?)", (person,))
    keys.forget(person)


def apply(db, keys, envelope):
    """Folds one event into the table; returns what it did, for the log."""
    kind, payload = envelope["type"], envelope["payload"]
    if kind == "user.erased":
        forget(db, keys, payload["user_id"])
        return "forgot"
    if not kind.startswith("user.") or not envelope["stream_id"].startswith("user-"):
        return "skipped"
    if envelope["schema_version"] != 1:
        log.warning("%s v%s: a schema version this mirror does not know; skipped", kind, envelope["schema_version"])
        return "skipped"
    person, version = payload["user_id"], envelope["stream_version"]
    if db.execute("SELECT 1 FROM erased WHERE user_id = ?", (person,)).fetchone():
        return "skipped"  # erased already: nothing of theirs comes back
    row = db.execute("SELECT version FROM customers WHERE user_id = ?", (person,)).fetchone()
    if row and version <= row[0]:
        return "skipped"  # applied before a restart: nothing twice

    def clear(field):
        return opened(keys, envelope["event_id"], field, payload.get(field))

    try:
        if kind == "user.registered":
            db.execute("INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, 1, ?)",
                       (person, clear("email"), clear("name"), payload["role"], version))
            return "applied"
        if row is None:
            return "skipped"  # the account's registration is not here: not a customer this mirror keeps
        changes = {
            "user.profile_changed": lambda: ("name", clear("name")),
            "user.email_changed": lambda: ("email", clear("email")),
            "user.role_changed": lambda: ("role", payload["role"]),
            "user.deactivated": lambda: ("active", 0),
            "user.restored": lambda: ("active", 1),
        }
        if kind in changes:
            column, value = changes[kind]()
            db.execute(f"UPDATE customers SET {column} = ? WHERE user_id = ?", (value, person))
        db.execute("UPDATE customers SET version = ? WHERE user_id = ?", (version, person))
        return "applied"
    except Gone:
        forget(db, keys, person)
        return "forgot"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic-prefix", default="lethe.")
    parser.add_argument("--api", required=True, help="lethe serve's base URL")
    parser.add_argument("--db", required=True, help="the SQLite file of the copy")
    parser.add_argument("--group", default="mirror-python")
    parser.add_argument("--until-idle", type=float, default=0,
                        help="exit once nothing has arrived for this many seconds (0: run until stopped)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    token = os.environ.get("LETHE_SERVICE_TOKEN")
    if not token:
        sys.exit("mirror: set LETHE_SERVICE_TOKEN to the service account's API key")

    db = sqlite3.connect(args.db, isolation_level=None)
    # A deleted row's bytes are overwritten, not left in a free page.
    db.execute("PRAGMA secure_delete = ON")
    db.executescript(SCHEMA)
    keys = Keys(args.api, token)
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": args.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    last_message = None  # idle time counts from the first assignment

    def assigned(_consumer, partitions):
        nonlocal last_message
        last_message = last_message or time.monotonic()
        log.info("assigned %d partitions", len(partitions))

    consumer.subscribe([args.topic_prefix + "users", args.topic_prefix + "erasure"], on_assign=assigned)
    counts = {"applied": 0, "skipped": 0, "forgot": 0}
    try:
        while True:
            batch = consumer.consume(num_messages=500, timeout=0.5)
            real = [m for m in batch if not m.error()]
            for m in batch:
                if m.error() and m.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"kafka: {m.error()}")
            if not real:
                if args.until_idle and last_message and time.monotonic() - last_message > args.until_idle:
                    break
                continue
            last_message = time.monotonic()
            db.execute("BEGIN")
            for m in real:
                counts[apply(db, keys, json.loads(m.value()))] += 1
            db.execute("COMMIT")
            consumer.commit(asynchronous=False)
            log.info("%d messages: %s", len(real), ", ".join(f"{k} {v}" for k, v in counts.items()))
    finally:
        consumer.close()
        db.close()
    log.info("stopped: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
