// Another writer holding the write lock past Options::busy_timeout: kBusy,
// retryable, nothing written, reads unaffected; the next append succeeds.
#include <chrono>
#include <string>

#include "conformance.h"
#include "tamper.h"

namespace cairn_test {
namespace {

using cairn::ErrorCode;
using cairn::ExpectedRevision;
using std::chrono::milliseconds;

TEST_CASE("an append waits busy_timeout for another writer's lock, then fails with kBusy", "[busy]") {
  cairn::Options options = TestOptions();
  options.busy_timeout = milliseconds(300);
  TestStore store(options);
  CAIRN_REQUIRE_OK(store->Append("order-1", ExpectedRevision::NoStream(), {Json("a.v1")}));
  {
    auto lock = ExternalWriteLock::Acquire(store.path());
    CAIRN_REQUIRE_OK(lock);
    const auto start = std::chrono::steady_clock::now();
    auto appended = store->Append("order-1", ExpectedRevision::Exact(0), {Json("b.v1")});
    const auto waited = std::chrono::steady_clock::now() - start;
    CAIRN_REQUIRE_ERROR(appended, ErrorCode::kBusy);
    CHECK(appended.error().retryable());
    CHECK(waited >= milliseconds(250));
    CHECK(waited < milliseconds(5000));
    // Readers are never blocked by a writer.
    CHECK(ReadLogAll(*store).size() == 1);
    CHECK(Head(*store) == 1);
  }
  auto appended = store->Append("order-1", ExpectedRevision::Exact(0), {Json("b.v1")});
  CAIRN_REQUIRE_OK(appended);
  CHECK(appended->first_position == 2);
  CHECK(appended->first_revision == 1);
  RequireGapFreeLog(*store);
  RequireVerifyOk(*store);
}

}  // namespace
}  // namespace cairn_test
