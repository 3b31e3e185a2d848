// Compiled once per conformance executable with CAIRN_TEST_BACKEND set to a
// cairn::BackendKind enumerator and CAIRN_TEST_BACKEND_NAME to its short name.
#include "conformance.h"

namespace cairn_test {

cairn::BackendKind TestBackend() { return cairn::BackendKind::CAIRN_TEST_BACKEND; }
std::string_view TestBackendName() { return CAIRN_TEST_BACKEND_NAME; }

}  // namespace cairn_test
