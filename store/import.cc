// EventStore::Import: recorded events in, the very same log out (see cairn/store.h).
//
// Every event is checked as Verify would check it, and as Append checks its
// input, before it is inserted; the checks run against the same write
// transaction that inserts, so they see what earlier transactions committed.
#include "import.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/audit.h"
#include "event_checks.h"

namespace cairn::detail {
namespace {

// As store.cc's group commit: each retry follows a growth of the LMDB map to at
// least double its size, so a batch that fits on the disk never gets this far.
constexpr int kMaxBatchAttempts = 40;

std::unexpected<Error> Refuse(std::uint64_t position, const std::string& problem) {
  return Fail(ErrorCode::kCorruption, "position " + std::to_string(position) + ": " + problem);
}

// A stream as the current transaction sees it.
struct StreamSeen {
  std::uint64_t next_revision = 0;
  std::uint64_t head_position = 0;
  bool deleted = false;
  bool written = false;  // has events in this transaction: its row is written at the end
};

class Importer {
 public:
  Importer(Backend& backend, const ImportSource& next, const ImportOptions& options, std::size_t max_batch_bytes,
           const std::function<void()>& committed)
      : backend_(backend),
        next_(next),
        batch_events_(std::max<std::size_t>(options.batch_events, 1)),
        max_batch_bytes_(max_batch_bytes),
        progress_(options.progress),
        committed_(committed) {}

  Result<ImportStats> Run() {
    do {
      for (int attempt = 1;; ++attempt) {
        auto outcome = TryBatch(/*may_retry=*/attempt < kMaxBatchAttempts);
        if (!outcome) return Fail(outcome.error());
        if (*outcome == Outcome::kDone) break;
      }
    } while (!end_);
    stats_.head_position = head_.position;
    stats_.head_hash = head_.hash;
    return stats_;
  }

 private:
  enum class Outcome { kDone, kRetry };

  // One write transaction: the events kept from a failed attempt (LMDB's map
  // was full), then new ones pulled from the source, each checked and inserted
  // before the next is pulled.
  Result<Outcome> TryBatch(bool may_retry) {
    auto txn = backend_.BeginWrite();
    if (!txn) return Fail(txn.error());
    auto fail = [&](const Error& error) -> Result<Outcome> {
      if (may_retry && (*txn)->NeedsRetry()) return Outcome::kRetry;  // nothing of it was committed
      return Fail(error);
    };
    auto stored = (*txn)->GetHead();
    if (!stored) return fail(stored.error());
    if (stored->position != head_.position || stored->hash != head_.hash) {
      if (head_.position == 0) {
        return Fail(ErrorCode::kInvalidArgument, "the store is not empty (its head is at position " +
                                                     std::to_string(stored->position) +
                                                     "): an import only fills an empty store");
      }
      return Fail(ErrorCode::kInvalidArgument, "the store was written to during the import: its head moved from " +
                                                   std::to_string(head_.position) + " to " +
                                                   std::to_string(stored->position));
    }

    ChainHead head = head_;
    std::unordered_map<std::string, StreamSeen> streams;
    std::uint64_t new_streams = 0;
    std::size_t bytes = 0;
    auto apply = [&](const RecordedEvent& event) -> Status {
      bytes += event.stream.size() + event.type.size() + event.data.size() + event.metadata.size();
      if (event.revision == 0) ++new_streams;
      return Apply(**txn, event, head, streams);
    };
    for (std::size_t i = 0; i < pending_; ++i) {
      if (auto ok = apply(batch_[i]); !ok) return fail(ok.error());
    }
    while (!end_ && pending_ < batch_events_ && bytes < max_batch_bytes_) {
      if (batch_.size() == pending_) batch_.emplace_back();
      auto more = next_(batch_[pending_]);
      if (!more) return Fail(more.error());
      if (!*more) {
        end_ = true;
        break;
      }
      if (auto ok = apply(batch_[pending_++]); !ok) return fail(ok.error());
    }
    if (pending_ == 0) return Outcome::kDone;  // the input ended with the previous transaction

    for (const auto& [name, seen] : streams) {
      if (!seen.written) continue;
      StreamState state{.head_revision = seen.next_revision - 1, .head_position = seen.head_position,
                        .deleted = seen.deleted};
      if (auto ok = (*txn)->PutStream(name, state); !ok) return fail(ok.error());
    }
    if (auto ok = (*txn)->Commit(); !ok) return fail(ok.error());
    head_ = head;
    stats_.events += pending_;
    stats_.streams += new_streams;
    pending_ = 0;
    if (committed_) committed_();
    if (progress_) progress_(stats_.events);
    return Outcome::kDone;
  }

  // Checks one event against the log so far and inserts it. A refusal is
  // kCorruption naming the position; other errors come from the transaction.
  static Status Apply(WriteTransaction& txn, const RecordedEvent& event, ChainHead& head,
                      std::unordered_map<std::string, StreamSeen>& streams) {
    const std::uint64_t position = event.position;
    const EventView view = event.view();
    if (position != head.position + 1) {
      if (head.position == 0) {
        return Refuse(position, "the input starts here, but an import into an empty store starts at position 1 "
                                "(the events before it are needed to check the audit chain)");
      }
      return Fail(ErrorCode::kCorruption, "position " + std::to_string(head.position + 1) +
                                              " is missing (the next event is at position " +
                                              std::to_string(position) + ")");
    }
    if (ChainHash(head.hash, view) != event.hash) {
      return Refuse(position, "the hash does not match the event (it was altered, or an event before it was "
                              "removed or reordered)");
    }
    if (auto ok = ValidateStreamName(event.stream); !ok) return Refuse(position, ok.error().message());
    const bool tombstone = event.type == kStreamDeletedType;
    if (auto ok = CheckEventContent(event.type, event.content_type, event.data, event.metadata,
                                    /*tombstone_allowed=*/true);
        !ok) {
      return Refuse(position, ok.error().message());
    }
    if (head.position > 0 && event.recorded_at_us < head.recorded_at_us) {
      return Refuse(position, "recorded_at goes back in time (" + std::to_string(event.recorded_at_us) +
                                  " µs, before the previous event's " + std::to_string(head.recorded_at_us) + ")");
    }
    if (event.id.IsNil()) return Refuse(position, "the nil UUID is not an event id");
    auto found = txn.FindEventId(event.id);
    if (!found) return Fail(found.error());
    if (*found) {
      return Refuse(position, "event id " + event.id.ToString() + " is already at position " +
                                  std::to_string((*found)->position));
    }

    auto [it, inserted] = streams.try_emplace(event.stream);
    StreamSeen& seen = it->second;
    if (inserted) {
      auto state = txn.GetStream(event.stream);
      if (!state) return Fail(state.error());
      if (*state) {
        seen = StreamSeen{.next_revision = (*state)->head_revision + 1,
                          .head_position = (*state)->head_position,
                          .deleted = (*state)->deleted};
      }
    }
    if (seen.deleted) return Refuse(position, "stream \"" + event.stream + "\" has an event after its tombstone");
    if (event.revision != seen.next_revision) {
      return Refuse(position, "stream \"" + event.stream + "\" has revision " + std::to_string(event.revision) +
                                  " where " + std::to_string(seen.next_revision) + " was expected");
    }

    if (auto ok = txn.InsertEvent(view); !ok) return ok;
    seen = StreamSeen{.next_revision = event.revision + 1, .head_position = position, .deleted = tombstone,
                      .written = true};
    head = ChainHead{.position = position, .hash = event.hash, .recorded_at_us = event.recorded_at_us};
    return {};
  }

  Backend& backend_;
  const ImportSource& next_;
  const std::size_t batch_events_;
  const std::size_t max_batch_bytes_;
  const std::function<void(std::uint64_t)>& progress_;
  const std::function<void()>& committed_;

  ChainHead head_;                    // the log as committed so far
  std::vector<RecordedEvent> batch_;  // slots reused from batch to batch; a retry replays them
  std::size_t pending_ = 0;           // events of batch_ in the transaction being built
  bool end_ = false;                  // the source said there are no more
  ImportStats stats_;
};

}  // namespace

Result<ImportStats> ImportLog(Backend& backend, const ImportSource& next, const ImportOptions& options,
                              std::size_t max_batch_bytes, const std::function<void()>& committed) {
  return Importer(backend, next, options, max_batch_bytes, committed).Run();
}

}  // namespace cairn::detail
