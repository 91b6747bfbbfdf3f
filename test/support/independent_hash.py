#!/usr/bin/env python3
"""An independent check of lethe's hash chain, sharing no code with it.

Reads Kafka message values, one JSON envelope per line, from the file named
by the first argument. For each, it takes the payload's bytes exactly as they
appear in the message (no re-serialisation) and recomputes the hash as
domain::chain_hash defines it: SHA-256 over "<decimal byte length>:" + bytes
of each field, in the order prev_hash, event_id, type, schema_version,
stream_id, stream_version, occurred_at, actor, correlation_id, causation_id,
payload. Prints one line per mismatch and "checked N"; exits 1 on any mismatch.
"""
import hashlib
import json
import sys

ORDER = ["prev_hash", "event_id", "type", "schema_version", "stream_id", "stream_version",
         "occurred_at", "actor", "correlation_id", "causation_id", "payload"]


def raw_members(text):
    """The top-level members of a JSON object as (key, decoded value, raw text of the value)."""
    dec = json.JSONDecoder()
    ws = " \t\n\r"
    i = 0
    while text[i] in ws:
        i += 1
    assert text[i] == "{", "not an object"
    i += 1
    while True:
        while text[i] in ws + ",":
            i += 1
        if text[i] == "}":
            return
        key, i = dec.raw_decode(text, i)
        while text[i] in ws:
            i += 1
        assert text[i] == ":"
        i += 1
        while text[i] in ws:
            i += 1
        value, end = dec.raw_decode(text, i)
        yield key, value, text[i:end]
        i = end


def chain_hash(fields):
    h = hashlib.sha256()
    for name in ORDER:
        part = fields[name]
        h.update(str(len(part)).encode() + b":" + part)
    return h.hexdigest()


def main():
    bad = checked = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            fields, claimed = {}, None
            for key, value, raw in raw_members(line):
                if key == "payload":
                    fields[key] = raw.encode("utf-8")  # the bytes as sent
                elif key == "hash":
                    claimed = value
                elif key in ORDER:
                    fields[key] = str(value).encode("utf-8")
            checked += 1
            actual = chain_hash(fields)
            if actual != claimed:
                bad += 1
                print(f"MISMATCH {fields['event_id'].decode()}: message says {claimed}, bytes hash to {actual}")
    print(f"checked {checked}")
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
