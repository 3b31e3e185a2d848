// cairn/file.h — reading the declarative files cairn loads (SQL projection,
// bridge and upcaster files), with the errors every loader gives.
#pragma once

#include <string>

#include "cairn/status.h"

namespace cairn {

// The whole file at `path`. kNotFound when it does not exist, kInvalidArgument
// when it is a directory, kIOError when it cannot be read; each message starts
// "cannot read PATH: ".
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace cairn
