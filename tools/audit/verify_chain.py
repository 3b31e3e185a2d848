#!/usr/bin/env python3
"""Re-verify a cairn SQLite store's audit chain with nothing but Python's standard library.

Usage: verify_chain.py STORE.db   — exits 0 and prints the head hash, or 4 naming the first bad position.
The layout is the one in docs/audit-chain.md; this script is that document, executable.
"""
import hashlib, sqlite3, struct, sys

def s(b): return struct.pack(">I", len(b)) + b          # str / bytes: u32 length, then the bytes

def canonical(pos, stream, rev, eid, typ, at, ctype, data, meta):
    return (struct.pack(">Q", pos) + s(stream.encode()) + struct.pack(">Q", rev) + eid + s(typ.encode())
            + struct.pack(">q", at) + s(ctype.encode()) + s(bytes(data, "utf-8") if isinstance(data, str) else data)
            + s((meta or "").encode()))

db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
prev, expected = bytes(32), 1
for row in db.execute("SELECT position, stream, revision, event_id, type, recorded_at, content_type, data,"
                      " metadata, hash FROM events ORDER BY position"):
    h = hashlib.blake2b(prev + canonical(*row[:9]), digest_size=32).digest()
    if row[0] != expected or h != row[9]:
        print(f"verify failed at position {expected}", file=sys.stderr); sys.exit(4)
    prev, expected = h, expected + 1
print(f"ok: {expected - 1} events, head hash {prev.hex()}")
