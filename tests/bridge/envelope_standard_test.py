#!/usr/bin/env python3
"""The bridge's envelopes, read by a consumer written to the platform standard.

standards/eda-standards-envelope.md, section 2.1: producers MUST publish an
``EventEnvelope`` with ``event_id: UUID``, ``event_type: str``,
``event_timestamp: datetime``, ``source_service: str``,
``correlation_id: Optional[UUID]`` and ``data: T_EventData`` (a typed, versioned
Pydantic model), serialized to JSON (3.3). This test defines that model as the
standard describes it, with pydantic's default configuration, and parses the
Kafka records that cairn's bridge would publish — printed by envelope_sample for
events appended to a real store — unchanged. It also checks the event type
naming of 2.2, the header-first processing of 4.1 and the headers cairn adds.

Written for Debian 12's python3-pydantic (pydantic 1.10); runs on pydantic 2 too.

Usage: envelope_standard_test.py ENVELOPE_SAMPLE [CAPNP_SCHEMA]
"""

import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid
from decimal import Decimal
from typing import Any, Generic, List, Optional, TypeVar

try:
    import pydantic
    from pydantic import BaseModel
except ImportError:  # pragma: no cover - a setup problem, said plainly
    sys.exit("envelope_standard_test: pydantic is not installed for " + sys.executable +
             ": run tools/setup/install-deps.sh (Debian package python3-pydantic)")

PYDANTIC_V1 = pydantic.VERSION.startswith("1.")

SAMPLE = None        # the envelope_sample binary (argv[1])
CAPNP_SCHEMA = None  # bridge/envelope.capnp (argv[2], optional)

# ---- The standard's model (eda-standards-envelope.md 2.1) -------------------

T_EventData = TypeVar("T_EventData")

if PYDANTIC_V1:
    from pydantic.generics import GenericModel as GenericBase  # generic models need it in pydantic 1

    def parse(model, text):
        return model.parse_raw(text)
else:
    GenericBase = BaseModel

    def parse(model, text):
        return model.model_validate_json(text)


class EventEnvelope(GenericBase, Generic[T_EventData]):
    event_id: uuid.UUID
    event_type: str
    event_timestamp: datetime.datetime
    source_service: str
    correlation_id: Optional[uuid.UUID] = None
    data: T_EventData


# Typed, versioned event data, as a consumer of the orders service writes it.
class OrderLine(BaseModel):
    sku: str
    qty: int


class OrderPlacedV1(BaseModel):
    customer: str
    total: Decimal
    items: List[OrderLine]
    reference: int


class OrderCancelledV1(BaseModel):
    reason: Optional[str] = None


# A consumer that wants cairn's additions declares them; the standard's model
# above ignores them (pydantic's default is to ignore extra fields).
class CairnEnvelope(GenericBase, Generic[T_EventData]):
    event_id: uuid.UUID
    event_type: str
    event_timestamp: datetime.datetime
    source_service: str
    correlation_id: Optional[uuid.UUID] = None
    causation_id: Optional[uuid.UUID] = None
    trace_id: Optional[str] = None
    schema_version: int
    stream: str
    revision: int
    position: int
    data_content_type: str
    data_encoding: str
    metadata: Optional[dict] = None
    data: T_EventData


# 2.2: <project>.<domain>.<entity>.<action_past_tense>.v<version>
EVENT_TYPE_NAMING = re.compile(r"^[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+\.v([0-9]+)$")

CORRELATION = "5f0c1a2e-9d4b-4c1e-8a7f-2b3c4d5e6f70"
CAUSATION = "0190a5c8-7e1c-7a3b-9f00-0123456789ab"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
BIG = 12345678901234567890123  # more than 64 bits: must arrive exact
BLOB = b"opaque\x00bytes\xff"

EVENTS = [
    {"stream": "order-42", "type": "acme.orders.order.placed.v1",
     "data": '{"customer": "c-7", "total": 18.50, "items": [{"sku": "tea", "qty": 2}],\n'
             ' "reference": %d, "note": "déjà vu 注文 😀"}' % BIG,
     "metadata": json.dumps({"correlation_id": CORRELATION, "causation_id": CAUSATION,
                             "trace_id": TRACE, "actor": "ada", "tenant": "t1"})},
    {"stream": "order-42", "type": "acme.orders.order.cancelled.v1",
     "data": '{"reason": "changed mind"}'},  # no metadata: no ids
    {"stream": "ordre-é", "type": "acme.orders.order.cancelled.v2",
     "data": "{}", "metadata": '{"correlation_id": null}'},
    {"stream": "blob-1", "type": "acme.files.blob.stored.v1",
     "content_type": "application/octet-stream",
     "data_base64": base64.b64encode(BLOB).decode()},
]

HEADER_NAMES = ["event_id", "event_type", "correlation_id", "causation_id", "trace_id", "source_service",
                "content-type", "X-Idempotency-Key", "X-Original-Timestamp", "cairn-position"]


def run_sample(fmt):
    """The records envelope_sample prints for EVENTS, as dicts."""
    work = tempfile.mkdtemp(prefix="cairn-envelope-")
    try:
        lines = "".join(json.dumps(event) + "\n" for event in EVENTS)
        out = subprocess.run([SAMPLE, "--store", os.path.join(work, "store.db"),
                              "--source-service", "orders-service", "--format", fmt],
                             input=lines.encode(), stdout=subprocess.PIPE, check=True, timeout=60)
        return [json.loads(line) for line in out.stdout.decode().splitlines()]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def headers_of(record):
    """Kafka headers as a consumer's client hands them over: bytes, decoded as utf-8 (4.1)."""
    raw = [(name, value.encode()) for name, value in record["headers"]]
    return {name: value.decode("utf-8") for name, value in raw}, [name for name, _ in raw]


class JsonEnvelopes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.records = run_sample("json")

    def test_one_record_per_event_keyed_by_stream(self):
        self.assertEqual([r["key"] for r in self.records], [e["stream"] for e in EVENTS])

    def test_the_standard_model_parses_each_envelope_unchanged(self):
        placed = parse(EventEnvelope[OrderPlacedV1], self.records[0]["value"])
        self.assertIsInstance(placed.event_id, uuid.UUID)
        self.assertEqual(placed.event_type, "acme.orders.order.placed.v1")
        self.assertEqual(placed.source_service, "orders-service")
        self.assertEqual(placed.correlation_id, uuid.UUID(CORRELATION))
        self.assertEqual(placed.event_timestamp.utcoffset(), datetime.timedelta(0))
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - placed.event_timestamp).total_seconds()), 600)
        self.assertEqual(placed.data.customer, "c-7")
        self.assertEqual(placed.data.total, Decimal("18.5"))
        self.assertEqual(placed.data.items, [OrderLine(sku="tea", qty=2)])
        self.assertEqual(placed.data.reference, BIG)

        cancelled = parse(EventEnvelope[OrderCancelledV1], self.records[1]["value"])
        self.assertIsNone(cancelled.correlation_id)
        self.assertEqual(cancelled.data.reason, "changed mind")
        cancelled_v2 = parse(EventEnvelope[OrderCancelledV1], self.records[2]["value"])
        self.assertIsNone(cancelled_v2.correlation_id)
        self.assertIsNone(cancelled_v2.data.reason)
        # Positions order the log; event ids are distinct.
        ids = {parse(EventEnvelope[Any], r["value"]).event_id for r in self.records}
        self.assertEqual(len(ids), len(EVENTS))

    def test_data_is_the_events_json_byte_for_byte(self):
        value = self.records[0]["value"]
        self.assertIn('"data":' + EVENTS[0]["data"] + "}", value)
        self.assertEqual(json.loads(value)["data"]["reference"], BIG)
        self.assertEqual(json.loads(value)["data"]["note"], "déjà vu 注文 😀")

    def test_event_types_follow_the_naming_convention(self):
        for record in self.records:
            envelope = json.loads(record["value"])
            match = EVENT_TYPE_NAMING.match(envelope["event_type"])
            self.assertIsNotNone(match, envelope["event_type"])
            self.assertEqual(envelope["schema_version"], int(match.group(1)))

    def test_cairns_extra_fields_are_ignored_by_default_and_readable_when_declared(self):
        for record, event in zip(self.records[:3], EVENTS):
            raw = json.loads(record["value"])
            for extra in ("stream", "revision", "position", "schema_version", "causation_id", "trace_id",
                          "data_content_type", "data_encoding", "metadata"):
                self.assertIn(extra, raw)
            parse(EventEnvelope[dict], record["value"])  # extra fields: no error
            full = parse(CairnEnvelope[dict], record["value"])
            self.assertEqual(full.stream, event["stream"])
            self.assertEqual(full.data_content_type, "application/json")
            self.assertEqual(full.data_encoding, "json")
        first = parse(CairnEnvelope[OrderPlacedV1], self.records[0]["value"])
        self.assertEqual((first.revision, first.position, first.schema_version), (0, 1, 1))
        self.assertEqual(first.causation_id, uuid.UUID(CAUSATION))
        self.assertEqual(first.trace_id, TRACE)
        self.assertEqual(first.metadata["tenant"], "t1")
        second = parse(CairnEnvelope[dict], self.records[1]["value"])
        self.assertEqual((second.revision, second.position), (1, 2))
        self.assertIsNone(second.metadata)
        self.assertIsNone(second.causation_id)
        self.assertIsNone(second.trace_id)
        third = parse(CairnEnvelope[dict], self.records[2]["value"])
        self.assertEqual((third.revision, third.position, third.schema_version), (0, 3, 2))

    def test_non_json_data_is_base64_with_its_content_type(self):
        envelope = parse(CairnEnvelope[str], self.records[3]["value"])
        self.assertEqual(envelope.data_content_type, "application/octet-stream")
        self.assertEqual(envelope.data_encoding, "base64")
        self.assertEqual(base64.b64decode(envelope.data, validate=True), BLOB)
        # The standard's envelope fields still parse; its typed data cannot be bytes.
        self.assertEqual(parse(EventEnvelope[str], self.records[3]["value"]).event_type, "acme.files.blob.stored.v1")

    def test_headers(self):
        for record in self.records:
            envelope = json.loads(record["value"])
            headers, names = headers_of(record)
            # Exactly the standard's names, optional ids only when the envelope has them, in order.
            expected = [n for n in HEADER_NAMES if n not in ("correlation_id", "causation_id", "trace_id")
                        or envelope[n] is not None]
            self.assertEqual(names, expected)
            # 4.1 header-first processing: complete headers (event_id + event_type) need no JSON parse.
            self.assertEqual(uuid.UUID(headers["event_id"]), uuid.UUID(envelope["event_id"]))
            self.assertEqual(headers["event_type"], envelope["event_type"])
            self.assertEqual(headers["source_service"], envelope["source_service"])
            self.assertEqual(headers.get("trace_id"), envelope["trace_id"])
            self.assertEqual(headers.get("correlation_id"), envelope["correlation_id"])
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(headers["X-Idempotency-Key"], "%s:%d" % (envelope["stream"], envelope["revision"]))
            self.assertEqual(headers["cairn-position"], str(envelope["position"]))
            self.assertEqual(datetime.datetime.fromisoformat(headers["X-Original-Timestamp"].replace("Z", "+00:00")),
                             parse(EventEnvelope[Any], record["value"]).event_timestamp)


class CapnpEnvelopes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.records = run_sample("capnp")
        cls.json_records = run_sample("json")

    def test_flat_single_segment_messages_marked_by_content_type(self):
        for record in self.records:
            message = base64.b64decode(record["value_base64"])
            self.assertEqual(len(message) % 8, 0)
            segments_minus_one = int.from_bytes(message[0:4], "little")
            first_segment_words = int.from_bytes(message[4:8], "little")
            self.assertEqual(segments_minus_one, 0)
            self.assertEqual(first_segment_words, len(message) // 8 - 1)
            headers, _ = headers_of(record)
            self.assertEqual(headers["content-type"], "application/x-capnp")

    def test_the_reference_tool_decodes_them_with_the_schema(self):
        if not (shutil.which("capnp") and CAPNP_SCHEMA):
            self.skipTest("needs the capnp tool (Debian package capnproto) and the schema's path")
        for record in self.records:
            message = base64.b64decode(record["value_base64"])
            out = subprocess.run(["capnp", "decode", CAPNP_SCHEMA, "Envelope"], input=message,
                                 stdout=subprocess.PIPE, check=True, timeout=60).stdout.decode()
            headers, _ = headers_of(record)
            self.assertIn('eventType = "%s"' % headers["event_type"], out)
            self.assertIn('sourceService = "orders-service"', out)
            self.assertIn("position = %s" % headers["cairn-position"], out)
            self.assertIn('dataContentType = "', out)
        decoded = subprocess.run(["capnp", "decode", CAPNP_SCHEMA, "Envelope"],
                                 input=base64.b64decode(self.records[1]["value_base64"]),
                                 stdout=subprocess.PIPE, check=True, timeout=60).stdout.decode()
        self.assertNotIn("correlationId", decoded)  # absent ids stay null
        self.assertIn('data = "{\\"reason\\": \\"changed mind\\"}"', decoded)


def main():
    global SAMPLE, CAPNP_SCHEMA
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    SAMPLE = sys.argv[1]
    CAPNP_SCHEMA = sys.argv[2] if len(sys.argv) > 2 else None
    print("pydantic %s, python %s" % (pydantic.VERSION, sys.version.split()[0]))
    unittest.main(argv=[sys.argv[0], "-v"])


if __name__ == "__main__":
    main()
