#!/usr/bin/env python3
"""Recompute the opportunity service's hash chain without its binary (Python 3.8+, standard library only).

Reads the feed in its stored form, GET /api/events?format=stored, either from a running service (following
nextAfter from the first event) or from saved answers of that route (each file one answer, or a JSON array of
answers, read in the order given). Checks that positions run 1, 2, 3 ... without gaps, that every prev_hash is
the previous event's hash (64 zeros for the first) and that every hash recomputes from the event's columns.

  python3 docs/verify_chain.py http://localhost:8080 --secret "$SECRET"   (or INTERNAL_SECRET=... in the environment)
  python3 docs/verify_chain.py page-1.json page-2.json --expect-head 1523:5f0c...e91a

Exit 0: prints "OK: N events" and "head POSITION:HASH" (keep the head somewhere the database's admins cannot
edit, and pass it as --expect-head next time). Exit 1: prints "FAILED at position P: why" for the first bad event.
Exit 2: the feed could not be read.

The hash is sha256(prev_hash + "\\n" + JSON of the nine other columns, keys sorted, no spaces, not ASCII-escaped),
UTF-8. `data` and `metadata` enter as the very text the feed gives (JSON strings holding the stored JSON text):
they are never parsed and written again, so 64-bit IDs beyond 2^53 inside them cannot be rounded.
"""
import argparse, hashlib, json, os, re, sys, urllib.parse, urllib.request

GENESIS = "0" * 64
HASHED = ("position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at")


def event_hash(event):
    text = json.dumps({name: event[name] for name in HASHED}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((event["prev_hash"] + "\n" + text).encode("utf-8")).hexdigest()


def service_pages(base_url, secret, page_size):
    after = 0
    while after is not None:
        query = urllib.parse.urlencode({"format": "stored", "after": after, "limit": page_size})
        request = urllib.request.Request(f"{base_url.rstrip('/')}/api/events?{query}", headers={"X-Internal-Secret": secret})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        yield answer
        after = answer["data"]["nextAfter"]


def file_pages(paths):
    for path in paths:
        with open(path, encoding="utf-8") as file:
            answers = json.load(file)
        yield from answers if isinstance(answers, list) else [answers]


def verify(pages, expect_head):
    position, prev_hash, seen_expected = 0, GENESIS, expect_head is None
    for answer in pages:
        if answer.get("code") != "0":
            raise ValueError(f"the feed answered {answer.get('code')!r}: {answer.get('msg')}")
        for event in answer["data"]["events"]:
            position += 1
            missing = [name for name in HASHED + ("prev_hash", "hash") if name not in event]
            if missing:
                return f"FAILED at position {position}: column(s) missing: {', '.join(missing)}"
            if event["position"] != position or isinstance(event["position"], bool):
                return f"FAILED at position {position}: the feed has position {event['position']!r} here (an event is missing or out of order)"
            if event["prev_hash"] != prev_hash:
                return f"FAILED at position {position}: prev_hash does not link to the previous event's hash"
            if event_hash(event) != event["hash"]:
                return f"FAILED at position {position}: hash does not match the event's columns (the event was altered)"
            prev_hash = event["hash"]
            seen_expected = seen_expected or f"{position}:{prev_hash}" == expect_head
    if not seen_expected:
        return f"FAILED at position {expect_head.split(':')[0]}: the chain (head {position}:{prev_hash}) does not hold the expected head {expect_head}"
    print(f"OK: {position} events\nhead {position}:{prev_hash}")
    return None


def main():
    parser = argparse.ArgumentParser(description="Recompute the event hash chain of the opportunity service.")
    parser.add_argument("source", nargs="+", help="the service's base URL (http:// or https://), or saved answers of GET /api/events?format=stored")
    parser.add_argument("--secret", default=os.environ.get("INTERNAL_SECRET"), help="X-Internal-Secret (default: $INTERNAL_SECRET); an auditor's secret is enough")
    parser.add_argument("--expect-head", help="POSITION:HASH kept from an earlier run: the chain must hold it")
    parser.add_argument("--page-size", type=int, default=1000, help="events per request, 1 to 1000")
    args = parser.parse_args()
    online = args.source[0].startswith(("http://", "https://"))
    if online and not args.secret:
        parser.error("a service URL needs --secret or INTERNAL_SECRET")
    if args.expect_head and not re.fullmatch(r"[0-9]+:[0-9a-f]{64}", args.expect_head):
        parser.error("--expect-head must be POSITION:HASH, as printed after 'head'")
    if online and len(args.source) > 1:
        parser.error("give one service URL, or saved answers only")
    pages = service_pages(args.source[0], args.secret, args.page_size) if online else file_pages(args.source)
    try:
        failure = verify(pages, args.expect_head)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"cannot read the feed: {error}", file=sys.stderr)
        return 2
    if failure:
        print(failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
