// Cap'n Proto records and keys of the LMDB store (see lmdb_records.h).
//
// Alignment. capnp::FlatArrayMessageReader reads 8-byte words and requires
// them 8-byte aligned (UBSan checks it); LMDB only promises 2-byte alignment of
// values. cairn's values line up anyway, by construction: LMDB places a leaf
// node at an offset that is its size rounded to even below the previous one,
// starting from the page end, and the value follows an 8-byte node header and
// the key. In `events` every key is 8 bytes and every value a whole number of
// words (a flat Cap'n Proto message), so every node size, every node offset and
// every value address is a multiple of 8; values too large for a leaf live on
// overflow pages, right after a 16-byte page header — aligned too. So reads hand
// out views straight into the map, and the copy into an aligned scratch buffer
// below is only the safety net for a value someone else wrote (a tool, an
// attacker, a future format): correct, just slower. MisalignedRecordCopies()
// counts it; the tests and the benchmark see 0 on stores cairn wrote.
#include "lmdb/lmdb_records.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <atomic>
#include <bit>

#include "lmdb/records.capnp.h"

namespace cairn::detail::lmdb {
namespace {

namespace records = lmdb_records;

std::atomic<std::uint64_t> misaligned_copies{0};

constexpr std::size_t kWordBytes = sizeof(capnp::word);
static_assert(kWordBytes == 8 && alignof(capnp::word) == 8);

std::size_t Words(std::size_t bytes) { return (bytes + kWordBytes - 1) / kWordBytes; }
// A Data field's words (0 when empty: the field is left null).
std::size_t DataWords(std::size_t bytes) { return Words(bytes); }
// A Text field's words: the bytes and their NUL terminator (0 when empty).
std::size_t TextWords(std::size_t bytes) { return bytes == 0 ? 0 : Words(bytes + 1); }

template <class Struct>
constexpr std::size_t StructWords() {
  return Struct::_capnpPrivate::dataWordSize + Struct::_capnpPrivate::pointerCount;
}

// The size of the single segment that holds `event`: the root pointer, the
// struct, then each blob padded to whole words (capnp's layout).
std::size_t EventSegmentWords(const EventView& event) {
  return 1 + StructWords<records::Event>() + DataWords(event.id.bytes.size()) + DataWords(event.hash.size()) +
         TextWords(event.stream.size()) + TextWords(event.type.size()) + DataWords(event.content_type.size()) +
         DataWords(event.data.size()) + DataWords(event.metadata.size());
}

// The flat message's first word, its segment table: (segment count - 1, segment
// size in words), two little-endian u32s.
void WriteSegmentTable(std::size_t segment_words, unsigned char* out) {
  const auto size = static_cast<std::uint32_t>(segment_words);
  const unsigned char table[8] = {0,
                                  0,
                                  0,
                                  0,
                                  static_cast<unsigned char>(size),
                                  static_cast<unsigned char>(size >> 8),
                                  static_cast<unsigned char>(size >> 16),
                                  static_cast<unsigned char>(size >> 24)};
  std::memcpy(out, table, sizeof table);
}

void CopyInto(capnp::Data::Builder out, std::string_view bytes) {
  std::memcpy(out.begin(), bytes.data(), bytes.size());
}
void CopyInto(capnp::Text::Builder out, std::string_view bytes) {
  std::memcpy(out.begin(), bytes.data(), bytes.size());
}

// Builds the message of `event` in `segment`, which must be zeroed and exactly
// EventSegmentWords(event) long. FlatMessageBuilder writes in place and checks
// that size: the record is built where it is stored, without a copy.
void BuildEvent(const EventView& event, kj::ArrayPtr<capnp::word> segment) {
  capnp::FlatMessageBuilder message(segment);
  auto record = message.initRoot<records::Event>();
  record.setPosition(event.position);
  record.setRevision(event.revision);
  record.setRecordedAt(event.recorded_at_us);
  CopyInto(record.initId(static_cast<unsigned>(event.id.bytes.size())), event.id.AsBytes());
  CopyInto(record.initHash(static_cast<unsigned>(event.hash.size())),
           std::string_view(reinterpret_cast<const char*>(event.hash.data()), event.hash.size()));
  // Empty fields stay null: no bytes at all (the reader sees them as empty).
  if (!event.stream.empty()) CopyInto(record.initStream(static_cast<unsigned>(event.stream.size())), event.stream);
  if (!event.type.empty()) CopyInto(record.initType(static_cast<unsigned>(event.type.size())), event.type);
  if (!event.content_type.empty()) {
    CopyInto(record.initContentType(static_cast<unsigned>(event.content_type.size())), event.content_type);
  }
  if (!event.data.empty()) CopyInto(record.initData(static_cast<unsigned>(event.data.size())), event.data);
  if (!event.metadata.empty())
    CopyInto(record.initMetadata(static_cast<unsigned>(event.metadata.size())), event.metadata);
  message.requireFilled();
}

// The value as 8-byte aligned words: in place when it is aligned (always, for
// records cairn wrote), else copied into `scratch` (zero-padded to whole words).
// Stream records (keyed by names of any length) are never aligned and are
// always copied, 48 bytes: only event copies are counted.
kj::ArrayPtr<const capnp::word> AlignedWords(const MDB_val& value, AlignedScratch& scratch, bool count_copy) {
  const auto address = reinterpret_cast<std::uintptr_t>(value.mv_data);
  if (address % kWordBytes == 0 && value.mv_size % kWordBytes == 0) {
    return kj::arrayPtr(static_cast<const capnp::word*>(value.mv_data), value.mv_size / kWordBytes);
  }
  if (count_copy) misaligned_copies.fetch_add(1, std::memory_order_relaxed);
  scratch.assign(Words(value.mv_size), 0);
  std::memcpy(scratch.data(), value.mv_data, value.mv_size);
  return kj::arrayPtr(reinterpret_cast<const capnp::word*>(scratch.data()), scratch.size());
}

std::string_view ViewOf(capnp::Data::Reader bytes) {
  return {reinterpret_cast<const char*>(bytes.begin()), bytes.size()};
}
std::string_view ViewOf(capnp::Text::Reader text) { return {text.begin(), text.size()}; }

capnp::ReaderOptions RecordReaderOptions() {
  capnp::ReaderOptions options;
  // A record is read once per visit; the largest is an event of Options::max_event_bytes
  // (8 MiB by default) plus a few words. This bounds the work a forged record can cause.
  options.traversalLimitInWords = (std::uint64_t{1} << 31) / kWordBytes;
  options.nestingLimit = 4;
  return options;
}

// The fast path of ReadEventRecord. capnp's generated getters cost ~13 ns
// each (an out-of-line bounds check and read-limit accounting per pointer), 7 of
// them per event: that was half the time of a log scan. cairn writes every
// record in one shape — one segment, the Event struct, byte-list pointers — so
// that shape is read here directly from the wire format
// (capnproto.org/encoding.html), with the same bounds checks, once per pointer.
// Anything else (several segments, far pointers, a damaged record) returns
// false, and the Cap'n Proto library decodes it — or reports what is wrong.
// The tests check that both agree on valid and on mangled records.
class FastEventReader {
 public:
  static bool Decode(kj::ArrayPtr<const capnp::word> message, EventView& event) {
    if constexpr (std::endian::native != std::endian::little) return false;  // capnp is little-endian
    const auto* base = reinterpret_cast<const unsigned char*>(message.begin());
    const std::size_t words = message.size();
    if (words < 2) return false;
    const std::uint64_t table = Word(base, 0);
    const std::size_t segment_words = table >> 32;
    if ((table & 0xFFFFFFFFu) != 0 || segment_words > words - 1) return false;  // one segment, inside the value
    FastEventReader reader(base + kWordBytes, segment_words);
    return reader.Read(event);
  }

 private:
  FastEventReader(const unsigned char* segment, std::size_t words) : segment_(segment), words_(words) {}

  static std::uint64_t Word(const unsigned char* at, std::size_t index) {
    std::uint64_t word;
    std::memcpy(&word, at + index * kWordBytes, sizeof word);
    return word;
  }
  // A pointer's signed 30-bit offset, in words from the end of the pointer.
  static std::int64_t Offset(std::uint64_t pointer) {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(pointer)) >> 2;
  }

  bool Read(EventView& event) {
    const std::uint64_t root = Word(segment_, 0);
    if (root == 0 || (root & 3) != 0) return false;  // not a struct pointer
    const std::int64_t start = 1 + Offset(root);
    const std::size_t data_words = (root >> 32) & 0xFFFF;
    const std::size_t pointer_words = root >> 48;
    if (start < 1 || static_cast<std::size_t>(start) + data_words + pointer_words > words_) return false;
    data_ = static_cast<std::size_t>(start);
    data_words_ = data_words;
    pointers_ = data_ + data_words;
    pointer_words_ = pointer_words;

    // Field offsets of records.capnp (fields missing from an older, shorter struct read as 0).
    event.position = DataWord(0);
    event.revision = DataWord(1);
    event.recorded_at_us = static_cast<std::int64_t>(DataWord(2));
    std::string_view id, hash;
    if (!Bytes(0, false, id) || !Bytes(1, false, hash) || !Bytes(2, true, event.stream) ||
        !Bytes(3, true, event.type) || !Bytes(4, false, event.content_type) || !Bytes(5, false, event.data) ||
        !Bytes(6, false, event.metadata)) {
      return false;
    }
    if (id.size() != event.id.bytes.size() || hash.size() != event.hash.size()) return false;
    std::memcpy(event.id.bytes.data(), id.data(), id.size());
    std::memcpy(event.hash.data(), hash.data(), hash.size());
    return true;
  }

  std::uint64_t DataWord(std::size_t index) const { return index < data_words_ ? Word(segment_, data_ + index) : 0; }

  // The bytes of pointer `index`: a list of bytes (Data), or for Text the same
  // without its NUL terminator. A null pointer is empty.
  bool Bytes(std::size_t index, bool text, std::string_view& out) const {
    if (index >= pointer_words_) {
      out = {};
      return true;
    }
    const std::size_t at = pointers_ + index;
    const std::uint64_t pointer = Word(segment_, at);
    if (pointer == 0) {
      out = {};
      return true;
    }
    constexpr std::uint64_t kListPointer = 1, kByteElements = 2;
    if ((pointer & 3) != kListPointer || ((pointer >> 32) & 7) != kByteElements) return false;
    const std::int64_t start = static_cast<std::int64_t>(at) + 1 + Offset(pointer);
    const std::uint64_t count = pointer >> 35;
    if (start < 0 || static_cast<std::size_t>(start) > words_ ||
        count > (words_ - static_cast<std::size_t>(start)) * kWordBytes) {
      return false;
    }
    const char* bytes = reinterpret_cast<const char*>(segment_ + static_cast<std::size_t>(start) * kWordBytes);
    if (text) {
      if (count == 0 || bytes[count - 1] != '\0') return false;
      out = {bytes, count - 1};
    } else {
      out = {bytes, count};
    }
    return true;
  }

  const unsigned char* segment_;
  std::size_t words_;
  std::size_t data_ = 0, data_words_ = 0, pointers_ = 0, pointer_words_ = 0;
};

}  // namespace

std::string CategoryKey(std::string_view category, std::uint64_t position) {
  std::string key = CategoryPrefix(category);
  unsigned char be[8];
  StoreBigEndian64(position, be);
  key.append(reinterpret_cast<const char*>(be), sizeof be);
  return key;
}

std::string CategoryPrefix(std::string_view category) {
  std::string prefix;
  prefix.reserve(category.size() + 9);
  prefix.append(category);
  prefix.push_back('\0');
  return prefix;
}

std::string SnapshotRecordKey(std::string_view stream, std::uint64_t revision) {
  std::string key;
  key.reserve(stream.size() + 9);
  key.append(stream);
  key.push_back('\0');
  unsigned char be[8];
  StoreBigEndian64(revision, be);
  key.append(reinterpret_cast<const char*>(be), sizeof be);
  return key;
}

std::string SnapshotStreamEnd(std::string_view stream) {
  std::string key;
  key.reserve(stream.size() + 1);
  key.append(stream);
  key.push_back('\1');
  return key;
}

bool ParseSnapshotRecordKey(std::string_view key, std::string_view& stream, std::uint64_t& revision) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;  // a name has at least one byte
  stream = key.substr(0, key.size() - 9);
  revision = LoadBigEndian64(key.data() + key.size() - 8);
  return true;
}

std::size_t EventRecordSize(const EventView& event) { return (1 + EventSegmentWords(event)) * kWordBytes; }

Status WriteEventRecord(const EventView& event, void* out, AlignedScratch& scratch) {
  const std::size_t segment_words = EventSegmentWords(event);
  const std::size_t size = (1 + segment_words) * kWordBytes;
  const bool aligned = reinterpret_cast<std::uintptr_t>(out) % kWordBytes == 0;
  unsigned char* target = static_cast<unsigned char*>(out);
  if (!aligned) {
    scratch.assign(1 + segment_words, 0);
    target = reinterpret_cast<unsigned char*>(scratch.data());
  } else {
    std::memset(target, 0, size);  // LMDB's reserved space is not zeroed; capnp needs it zeroed
  }
  WriteSegmentTable(segment_words, target);
  try {
    BuildEvent(event, kj::arrayPtr(reinterpret_cast<capnp::word*>(target + kWordBytes), segment_words));
  } catch (const kj::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "cannot encode the event at position " + std::to_string(event.position) +
                                                 ": " + e.getDescription().cStr());
  }
  if (!aligned) std::memcpy(out, target, size);
  return {};
}

namespace {

std::size_t SnapshotSegmentWords(const SnapshotView& snapshot) {
  return 1 + StructWords<records::Snapshot>() + DataWords(snapshot.event_hash.size()) +
         DataWords(snapshot.state.size()) + DataWords(snapshot.checksum.size());
}

}  // namespace

std::size_t SnapshotRecordSize(const SnapshotView& snapshot) {
  return (1 + SnapshotSegmentWords(snapshot)) * kWordBytes;
}

Status WriteSnapshotRecord(const SnapshotView& snapshot, void* out, AlignedScratch& scratch) {
  if (snapshot.state.size() > kMaxSnapshotStateBytes) {
    return Fail(ErrorCode::kInvalidArgument, "a snapshot state of " + std::to_string(snapshot.state.size()) +
                                                 " bytes is over the LMDB backend's limit of " +
                                                 std::to_string(kMaxSnapshotStateBytes));
  }
  const std::size_t segment_words = SnapshotSegmentWords(snapshot);
  const std::size_t size = (1 + segment_words) * kWordBytes;
  // Keys vary in length, so a small value's place in a leaf page is rarely aligned.
  const bool aligned = reinterpret_cast<std::uintptr_t>(out) % kWordBytes == 0;
  unsigned char* target = static_cast<unsigned char*>(out);
  if (!aligned) {
    scratch.assign(1 + segment_words, 0);
    target = reinterpret_cast<unsigned char*>(scratch.data());
  } else {
    std::memset(target, 0, size);  // LMDB's reserved space is not zeroed; capnp needs it zeroed
  }
  WriteSegmentTable(segment_words, target);
  try {
    capnp::FlatMessageBuilder message(
        kj::arrayPtr(reinterpret_cast<capnp::word*>(target + kWordBytes), segment_words));
    auto record = message.initRoot<records::Snapshot>();
    record.setSchemaVersion(snapshot.schema_version);
    CopyInto(record.initEventHash(static_cast<unsigned>(snapshot.event_hash.size())),
             std::string_view(reinterpret_cast<const char*>(snapshot.event_hash.data()), snapshot.event_hash.size()));
    record.setTakenAt(snapshot.taken_at_us);
    if (!snapshot.state.empty()) {
      CopyInto(record.initState(static_cast<unsigned>(snapshot.state.size())), snapshot.state);
    }
    CopyInto(record.initChecksum(static_cast<unsigned>(snapshot.checksum.size())),
             std::string_view(reinterpret_cast<const char*>(snapshot.checksum.data()), snapshot.checksum.size()));
    message.requireFilled();
  } catch (const kj::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "cannot encode the snapshot of stream \"" + std::string(snapshot.stream) +
                                                 "\": " + e.getDescription().cStr());
  }
  if (!aligned) std::memcpy(out, target, size);
  return {};
}

void ReadSnapshotRecord(const MDB_val& value, AlignedScratch& scratch, SnapshotView& snapshot) {
  const std::string_view stream = snapshot.stream;
  const std::uint64_t revision = snapshot.revision;
  snapshot = SnapshotView{.stream = stream, .revision = revision};
  try {
    capnp::FlatArrayMessageReader message(AlignedWords(value, scratch, false), RecordReaderOptions());
    auto record = message.getRoot<records::Snapshot>();
    auto hash = record.getEventHash();
    if (hash.size() == snapshot.event_hash.size()) std::memcpy(snapshot.event_hash.data(), hash.begin(), hash.size());
    auto checksum = record.getChecksum();
    if (checksum.size() == snapshot.checksum.size()) {
      std::memcpy(snapshot.checksum.data(), checksum.begin(), checksum.size());
    }
    snapshot.schema_version = record.getSchemaVersion();
    snapshot.taken_at_us = record.getTakenAt();
    snapshot.state = ViewOf(record.getState());
  } catch (const kj::Exception&) {
    // Damaged beyond reading: visited with its key and nothing else, so that its checksum fails.
    snapshot = SnapshotView{.stream = stream, .revision = revision};
  }
}

namespace {

Status DecodeWithLibrary(kj::ArrayPtr<const capnp::word> words, EventView& event) {
  try {
    capnp::FlatArrayMessageReader message(words, RecordReaderOptions());
    auto record = message.getRoot<records::Event>();
    event.position = record.getPosition();
    event.revision = record.getRevision();
    event.recorded_at_us = record.getRecordedAt();
    auto id = record.getId();
    auto hash = record.getHash();
    if (id.size() != event.id.bytes.size() || hash.size() != event.hash.size()) {
      return Fail(ErrorCode::kCorruption,
                  "the event record at position " + std::to_string(event.position) + " has a malformed id or hash");
    }
    std::memcpy(event.id.bytes.data(), id.begin(), id.size());
    std::memcpy(event.hash.data(), hash.begin(), hash.size());
    event.stream = ViewOf(record.getStream());
    event.type = ViewOf(record.getType());
    event.content_type = ViewOf(record.getContentType());
    event.data = ViewOf(record.getData());
    event.metadata = ViewOf(record.getMetadata());
  } catch (const kj::Exception& e) {
    return Fail(ErrorCode::kCorruption, std::string("an event record cannot be decoded: ") + e.getDescription().cStr());
  }
  return {};
}

}  // namespace

Status ReadEventRecord(const MDB_val& value, AlignedScratch& scratch, EventView& event) {
  const auto words = AlignedWords(value, scratch, true);
  if (FastEventReader::Decode(words, event)) return {};
  return DecodeWithLibrary(words, event);
}

Status ReadEventRecordWithLibrary(const MDB_val& value, AlignedScratch& scratch, EventView& event) {
  return DecodeWithLibrary(AlignedWords(value, scratch, true), event);
}

std::string EncodeStreamRecord(const StreamRecord& record) {
  constexpr std::size_t kSegmentWords = 1 + StructWords<records::Stream>();
  capnp::word words[1 + kSegmentWords] = {};
  WriteSegmentTable(kSegmentWords, reinterpret_cast<unsigned char*>(words));
  {
    capnp::FlatMessageBuilder message(kj::arrayPtr(words + 1, kSegmentWords));
    auto stream = message.initRoot<records::Stream>();
    stream.setFirstPosition(record.first_position);
    stream.setHeadRevision(record.state.head_revision);
    stream.setHeadPosition(record.state.head_position);
    stream.setDeleted(record.state.deleted);
    message.requireFilled();  // a fixed-size struct: cannot fail
  }
  return std::string(reinterpret_cast<const char*>(words), sizeof words);
}

Result<StreamRecord> ReadStreamRecord(const MDB_val& value) {
  AlignedScratch scratch;
  try {
    capnp::FlatArrayMessageReader message(AlignedWords(value, scratch, false), RecordReaderOptions());
    auto stream = message.getRoot<records::Stream>();
    return StreamRecord{.first_position = stream.getFirstPosition(),
                        .state = StreamState{.head_revision = stream.getHeadRevision(),
                                             .head_position = stream.getHeadPosition(),
                                             .deleted = stream.getDeleted()}};
  } catch (const kj::Exception& e) {
    return Fail(ErrorCode::kCorruption, std::string("a stream record cannot be decoded: ") + e.getDescription().cStr());
  }
}

std::string EncodeSchemaRecord(std::int64_t registered_at_us, std::string_view document) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<records::Schema>();
  record.setRegisteredAt(registered_at_us);
  if (!document.empty()) {
    record.setDocument(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(document.data()), document.size()));
  }
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

Status ReadSchemaRecord(const MDB_val& value, AlignedScratch& scratch, std::int64_t& registered_at_us,
                        std::string_view& document) {
  try {
    capnp::FlatArrayMessageReader message(AlignedWords(value, scratch, false), RecordReaderOptions());
    auto record = message.getRoot<records::Schema>();
    registered_at_us = record.getRegisteredAt();
    document = ViewOf(record.getDocument());
  } catch (const kj::Exception& e) {
    return Fail(ErrorCode::kCorruption, std::string("a schema record cannot be decoded: ") + e.getDescription().cStr());
  }
  return {};
}

std::uint64_t MisalignedRecordCopies() { return misaligned_copies.load(std::memory_order_relaxed); }

}  // namespace cairn::detail::lmdb
