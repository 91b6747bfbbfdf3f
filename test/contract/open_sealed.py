#!/usr/bin/env python3
"""Opens lethe's sealed values from the specification alone
(docs/sealed-format.md), with PyNaCl (libsodium), sharing no code with lethe.

Usage: open_sealed.py VECTORS.json

For each vector: every sealed value in its sealed payload is opened with the
person's key (or the key derived from two people's keys), bound to the event
id and the field's place, and must equal the value at that place in the
clear payload. Then each is opened as if moved to another field, and as if
moved to another event: both must fail. Exit 0 when all of that holds.
"""
import base64
import json
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.encoding import RawEncoder


def sealed_values(payload):
    """(place, sealed object) for each sealed value: "field", or
    "field[i].member" for a member of an array's item."""
    for name, value in payload.items():
        if isinstance(value, dict) and value.get("sealed") == "xchacha20poly1305":
            yield name, value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    for member, inner in item.items():
                        if isinstance(inner, dict) and inner.get("sealed") == "xchacha20poly1305":
                            yield f"{name}[{i}].{member}", inner


def clear_value(payload, place):
    if "[" not in place:
        return payload[place]
    name, rest = place.split("[", 1)
    index, member = rest.split("].", 1)
    return payload[name][int(index)][member]


def person_key(people, secrets, sealed, sub, kid):
    person = people[sealed[sub]]
    if person["kid"] != sealed[kid]:
        raise ValueError(f"{kid} does not name the person's key")
    key = bytes.fromhex(person["key_hex"])
    if "dom" not in sealed:
        return key
    # In a key domain, the person's domain key: keyed BLAKE2b-256 of the
    # domain's name, a zero byte and its secret, under the person's key.
    message = sealed["dom"].encode() + b"\0" + bytes.fromhex(secrets[sealed["dom"]])
    return blake2b(message, digest_size=32, key=key, encoder=RawEncoder)


def key_of(people, secrets, sealed):
    key = person_key(people, secrets, sealed, "sub", "kid")
    if "sub2" not in sealed:
        return key
    # Keyed BLAKE2b-256: the second person's key hashed under the first's.
    second = person_key(people, secrets, sealed, "sub2", "kid2")
    return blake2b(second, digest_size=32, key=key, encoder=RawEncoder)


def open_one(people, secrets, sealed, event_id, place):
    ad = event_id.encode() + b"\0" + place.encode()
    nonce = base64.b64decode(sealed["n"], validate=True)
    box = base64.b64decode(sealed["c"], validate=True)
    if len(nonce) != 24:
        raise ValueError("nonce is not 24 bytes")
    plain = crypto_aead_xchacha20poly1305_ietf_decrypt(box, ad, nonce, key_of(people, secrets, sealed))
    text = plain.decode("utf-8")
    return json.loads(text) if sealed.get("t") == "json" else text


def main(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    people, secrets = data["people"], data["domain_secrets"]
    opened = refused = 0
    problems = []
    for v in data["vectors"]:
        for place, sealed in sealed_values(v["sealed_payload"]):
            value = open_one(people, secrets, sealed, v["event_id"], place)
            if value != clear_value(v["payload"], place):
                problems.append(f'{v["case"]}: {place} opened to {value!r}')
            opened += 1
            moved = 0
            for event_id, where in ((v["event_id"], place + "x"), (v["event_id"][:-1] + "9", place)):
                try:
                    open_one(people, secrets, sealed, event_id, where)
                    problems.append(f'{v["case"]}: {place} opened at {event_id}/{where}')
                except CryptoError:
                    moved += 1
            refused += moved == 2
    for p in problems:
        print(p)
    print(f"opened {opened} sealed values, each equal to the payload's; refused {refused} moved ones")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
