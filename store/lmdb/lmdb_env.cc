// The LMDB environment of a cairn store: opening, creating, checking files
// before LMDB touches them, the cross-process write lock, and growing the map.
#include "lmdb/lmdb_env.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <map>
#include <thread>

#include "lmdb/lmdb_records.h"

namespace cairn::detail::lmdb {
namespace {

using Clock = std::chrono::steady_clock;

// Sub-databases: the seven of the layout (events, stream_index, event_ids,
// category_index, streams, snapshots, schemas) and cairn_meta; two to spare.
// (A per-handle limit, not on disk: raising it never changes a store.)
constexpr unsigned kMaxDatabases = 10;
// Reader slots in the lock file (64 bytes each). With MDB_NOTLS every cairn
// Reader object keeps one slot while it lives (pooled readers, subscriptions).
constexpr unsigned kMaxReaders = 1024;
constexpr mdb_mode_t kFileMode = 0644;
constexpr std::size_t kMiB = std::size_t{1} << 20;
// Smallest initial map: a few pages for the sub-databases and the first commits.
constexpr std::size_t kMinMapBytes = 64 * 1024;
// Beyond this size the map grows by this much instead of doubling.
constexpr std::size_t kMaxGrowthStep = std::size_t{8} << 30;

constexpr const char* kMetaDb = "cairn_meta";

std::string LockFilePath(const std::string& path) { return path + "-lock"; }

std::size_t RoundUp(std::size_t value, std::size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

std::string NowIso8601() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// Opens every sub-database of an existing store and checks cairn_meta. Needs a
// read transaction; the handles become the environment's when it commits.
// `snapshots` is optional (stores created before it existed lack it):
// *snapshots stays nullopt when it is missing.
Result<Databases> OpenDatabases(MDB_txn* txn, const std::string& path, std::optional<MDB_dbi>* snapshots) {
  Databases dbs;
  int rc = mdb_dbi_open(txn, kMetaDb, 0, &dbs.meta);
  if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
    return Fail(ErrorCode::kCorruption, path + " is an LMDB environment but not a cairn store (no cairn_meta)");
  }
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot open " + path));

  auto get = [&](std::string_view key) -> std::optional<std::string> {
    MDB_val k = ValOf(key), v{};
    if (mdb_get(txn, dbs.meta, &k, &v) != MDB_SUCCESS) return std::nullopt;
    return std::string(ViewOf(v));
  };
  if (get("magic") != std::optional<std::string>(std::string(kMagic))) {
    return Fail(ErrorCode::kCorruption, path + " is an LMDB environment but not a cairn store (no cairn magic)");
  }
  auto version_text = get("format_version");
  std::uint32_t version = 0;
  if (version_text) {
    try {
      version = static_cast<std::uint32_t>(std::stoul(*version_text));
    } catch (const std::exception&) {
      version = 0;
    }
  }
  if (version > kFormatVersion) {
    return Fail(ErrorCode::kNotSupported, path + " is a cairn LMDB store of format " + std::to_string(version) +
                                              ", newer than this cairn (format " + std::to_string(kFormatVersion) +
                                              "); upgrade cairn to open it");
  }
  if (version < 1) return Fail(ErrorCode::kCorruption, path + " is a cairn LMDB store with no format version");

  const std::pair<const char*, MDB_dbi*> named[] = {{"events", &dbs.events},
                                                    {"stream_index", &dbs.stream_index},
                                                    {"event_ids", &dbs.event_ids},
                                                    {"category_index", &dbs.category_index},
                                                    {"streams", &dbs.streams}};
  for (const auto& [name, dbi] : named) {
    rc = mdb_dbi_open(txn, name, 0, dbi);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
      return Fail(ErrorCode::kCorruption, path + " is a damaged cairn store: the sub-database " + name + " is missing");
    }
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot open " + path));
  }
  MDB_dbi dbi = 0;
  rc = mdb_dbi_open(txn, kSnapshotsDb, 0, &dbi);
  if (rc == MDB_SUCCESS) {
    *snapshots = dbi;
  } else if (rc != MDB_NOTFOUND) {
    return Fail(LmdbError(rc, "cannot open " + path + ": the sub-database " + kSnapshotsDb));
  }
  return dbs;
}

struct OpenedEnv {
  EnvHandle env;
  Databases dbs;
  std::optional<MDB_dbi> snapshots;
  std::optional<MDB_dbi> schemas;
};

// Opens `path` with `flags`, checks it and opens its sub-databases.
Result<OpenedEnv> OpenEnv(const std::string& path, unsigned flags) {
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot open " + path));
  EnvHandle env(raw);  // LMDB requires mdb_env_close even after a failed mdb_env_open
  mdb_env_set_maxdbs(raw, kMaxDatabases);
  mdb_env_set_maxreaders(raw, kMaxReaders);
  // No mdb_env_set_mapsize: an existing environment is mapped at the size its
  // meta page records (the largest any process has grown it to).
  rc = mdb_env_open(raw, path.c_str(), flags | MDB_NOSUBDIR | MDB_NOTLS, kFileMode);
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot open " + path));
  if ((flags & MDB_NOLOCK) == 0) {
    int dead = 0;
    mdb_reader_check(raw, &dead);  // slots of readers that died since the last user
  }
  MDB_txn* txn_raw = nullptr;
  rc = mdb_txn_begin(raw, nullptr, MDB_RDONLY, &txn_raw);
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot read " + path));
  Txn txn(txn_raw);
  std::optional<MDB_dbi> snapshots;
  auto dbs = OpenDatabases(txn.get(), path, &snapshots);
  if (!dbs) return Fail(dbs.error());
  // `schemas` is optional too (stores created before it existed lack it).
  std::optional<MDB_dbi> schemas;
  MDB_dbi schemas_dbi = 0;
  rc = mdb_dbi_open(txn.get(), kSchemasDb, 0, &schemas_dbi);
  if (rc == MDB_SUCCESS) {
    schemas = schemas_dbi;
  } else if (rc != MDB_NOTFOUND) {
    return Fail(LmdbError(rc, "cannot open " + path + ": the sub-database " + kSchemasDb));
  }
  rc = txn.Commit();  // makes the handles the environment's
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot read " + path));
  return OpenedEnv{.env = std::move(env), .dbs = *dbs, .snapshots = snapshots, .schemas = schemas};
}

// The process-wide table of open environments (see lmdb_env.h).
struct Registry {
  std::mutex mutex;
  std::condition_variable closed;  // an environment finished closing
  std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Environment>> open;
};
Registry& TheRegistry() {
  static Registry* registry = new Registry;  // never destroyed: environments may close during exit
  return *registry;
}

}  // namespace

Error LmdbError(int rc, std::string_view context) {
  std::string message = std::string(context) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_READERS_FULL:
      return Error(ErrorCode::kBusy, message + " (every reader slot is in use; retry when readers finish)");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_VALSIZE:
      return Error(ErrorCode::kCorruption, message);
    case MDB_KEYEXIST:
      return Error(ErrorCode::kCorruption, message + " (the store's state disagrees with its indexes)");
    case MDB_MAP_FULL:
      return Error(ErrorCode::kIOError, message + " (the memory map is full and could not grow)");
    case MDB_PANIC:
      return Error(ErrorCode::kIOError, message + " (close and reopen the store)");
    case ENOSPC:
    case EDQUOT:
      return Error(ErrorCode::kIOError, message + " (the disk is full; nothing of this write was committed)");
    case EACCES:
    case EROFS:
    case EPERM:
      return Error(ErrorCode::kIOError, message + " (no permission)");
    default:
      return Error(ErrorCode::kIOError, message);
  }
}

Result<Cursor> Cursor::Open(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* raw = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &raw);
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "opening a cursor"));
  return Cursor(raw);
}

Result<std::shared_ptr<Environment>> Environment::Acquire(const std::string& path, const Options& options) {
  Registry& registry = TheRegistry();
  std::unique_lock lock(registry.mutex);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
  }
  const auto key = std::make_pair(st.st_dev, st.st_ino);
  for (auto it = registry.open.find(key); it != registry.open.end(); it = registry.open.find(key)) {
    if (auto shared = it->second.lock()) {
      if (shared->read_only() && !options.read_only) {
        return Fail(ErrorCode::kInvalidArgument, path +
                                                     " is already open read-only in this process; LMDB allows "
                                                     "one environment per file and process: close it first");
      }
      // The strongest durability any user asked for wins.
      if (options.durability == Durability::kFull) {
        std::lock_guard writer(shared->writer_mutex());  // not in the middle of a commit
        mdb_env_set_flags(shared->env(), MDB_NOMETASYNC, 0);
      }
      return shared;
    }
    registry.closed.wait(lock);  // its last user is closing it right now
  }

  unsigned flags = 0;
  if (options.read_only) flags |= MDB_RDONLY;
  if (options.durability == Durability::kRelaxed) flags |= MDB_NOMETASYNC;
  auto opened = OpenEnv(path, flags);
  if (!opened) return Fail(opened.error());
  int write_lock_fd = -1;
  if (!options.read_only) {
    write_lock_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (write_lock_fd < 0) return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
  }
  std::shared_ptr<Environment> environment(new Environment(path, st.st_dev, st.st_ino, std::move(opened->env),
                                                           opened->dbs, opened->snapshots, options.read_only,
                                                           write_lock_fd));
  if (opened->schemas) environment->SetSchemasDbi(*opened->schemas);
  registry.open[key] = environment;
  return environment;
}

Environment::~Environment() {
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  env_.reset();  // mdb_env_close, under the registry lock: no other handle of this file opens meanwhile
  if (write_lock_fd_ >= 0) ::close(write_lock_fd_);
  auto it = registry.open.find({device_, inode_});
  if (it != registry.open.end() && it->second.expired()) registry.open.erase(it);
  registry.closed.notify_all();
}

Status Environment::LockForWriting(std::chrono::milliseconds timeout) {
  if (write_lock_fd_ < 0) return Fail(ErrorCode::kNotSupported, "the store " + path_ + " is open read-only");
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::microseconds(50);
  while (true) {
    if (::flock(write_lock_fd_, LOCK_EX | LOCK_NB) == 0) return {};
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      return Fail(ErrorCode::kIOError, "cannot lock " + path_ + " for writing: " + std::strerror(errno));
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      return Fail(ErrorCode::kBusy, "another process held the write lock of " + path_ + " for longer than " +
                                        std::to_string(timeout.count()) + " ms (Options::busy_timeout)");
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

void Environment::UnlockWriting() { ::flock(write_lock_fd_, LOCK_UN); }

Status Environment::GrowIfNeeded(std::chrono::milliseconds timeout) {
  const bool requested = growth_requested_.exchange(false);
  MDB_envinfo info{};
  MDB_stat stat{};
  {
    std::shared_lock gate(gate_);
    mdb_env_info(env(), &info);
    mdb_env_stat(env(), &stat);
  }
  const std::size_t used = (info.me_last_pgno + 1) * stat.ms_psize;
  const std::size_t map = info.me_mapsize;
  if (!requested && used + map / 8 <= map) return {};
  std::size_t next = map < kMaxGrowthStep ? map * 2 : map + kMaxGrowthStep;
  next = RoundUp(std::max(next, used + used / 4), kMiB);
  // Opportunistic growth does not wait for readers: the write that finds the map
  // really full will (the page cache and the next write both tolerate a miss).
  auto grown = Resize(next, requested ? timeout : std::chrono::milliseconds(0),
                      requested ? "the memory map is full" : "the memory map is 7/8 full");
  if (!grown && requested) growth_requested_ = true;
  if (!grown && !requested && grown.error().code() == ErrorCode::kBusy) return {};
  return grown;
}

Status Environment::AdoptMapSize(std::chrono::milliseconds timeout) {
  return Resize(0, timeout, "another process grew the memory map");
}

Status Environment::Resize(std::size_t new_size, std::chrono::milliseconds timeout, std::string_view why) {
  // No transaction of this process may be active while the map moves: their
  // views point into it.
  std::unique_lock gate(gate_, std::defer_lock);
  if (!gate.try_lock_for(timeout)) {
    return Fail(ErrorCode::kBusy, std::string(why) + " and must be remapped, but reads of " + path_ +
                                      " in this process stayed open for longer than " +
                                      std::to_string(timeout.count()) + " ms (Options::busy_timeout)");
  }
  // A size of 0 adopts the size recorded in the meta page (mdb_env_set_mapsize).
  int rc = mdb_env_set_mapsize(env(), new_size);
  if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot resize the memory map of " + path_));
  return {};
}

void Environment::ClearStaleReaders() {
  int dead = 0;
  mdb_reader_check(env(), &dead);
}

Result<std::optional<MDB_dbi>> Environment::FindSnapshotsDbi(std::chrono::milliseconds timeout) {
  return FindOptionalDbi(kSnapshotsDb, snapshots_dbi_, timeout);
}

Result<std::optional<MDB_dbi>> Environment::FindSchemasDbi(std::chrono::milliseconds timeout) {
  return FindOptionalDbi(kSchemasDb, schemas_dbi_, timeout);
}

Result<std::optional<MDB_dbi>> Environment::FindOptionalDbi(const char* name, std::atomic<std::int64_t>& slot,
                                                            std::chrono::milliseconds timeout) {
  auto known = [&slot]() -> std::optional<MDB_dbi> {
    const std::int64_t dbi = slot.load(std::memory_order_acquire);
    return dbi < 0 ? std::nullopt : std::optional<MDB_dbi>(static_cast<MDB_dbi>(dbi));
  };
  std::lock_guard dbi_lock(dbi_mutex_);
  if (auto found = known()) return found;  // found meanwhile
  bool checked_readers = false;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::shared_lock gate(gate_);
    MDB_txn* raw = nullptr;
    int rc = mdb_txn_begin(env(), nullptr, MDB_RDONLY, &raw);
    if (rc == MDB_SUCCESS) {
      Txn txn(raw);
      MDB_dbi dbi = 0;
      rc = mdb_dbi_open(txn.get(), name, 0, &dbi);
      if (rc == MDB_NOTFOUND) return std::optional<MDB_dbi>();
      if (rc != MDB_SUCCESS) {
        return Fail(LmdbError(rc, std::string("opening the sub-database ") + name + " of " + path_));
      }
      // A read transaction's commit, too, makes the handle the environment's.
      if (rc = txn.Commit(); rc != MDB_SUCCESS) return Fail(LmdbError(rc, "reading " + path_));
      slot.store(dbi, std::memory_order_release);
      return std::optional<MDB_dbi>(dbi);
    }
    gate.unlock();
    if (rc == MDB_MAP_RESIZED) {
      if (auto ok = AdoptMapSize(timeout); !ok) return Fail(ok.error());
    } else if (rc == MDB_READERS_FULL && !checked_readers) {
      ClearStaleReaders();
      checked_readers = true;
    } else {
      return Fail(LmdbError(rc, "starting a read of " + path_));
    }
  }
  return Fail(ErrorCode::kBusy, "the memory map of " + path_ + " kept moving; retry");
}

// LMDB's data file starts with two meta pages (mdb.c: MDB_page, MDB_meta). Their
// layout on a 64-bit build, in the machine's byte order:
//   page header: u64 pgno, u16 pad, u16 flags (P_META = 0x08), u32 lower/upper  (16 bytes)
//   meta:        +16 u32 magic 0xBEEFC0DE, +20 u32 version (1), +24 address, +32 mapsize,
//                +40 free-db record (its first u32 holds the page size), +88 main-db record,
//                +136 u64 last page number, +144 u64 transaction id
Status CheckDataFileHeader(const std::string& path) {
  auto refuse = [&](const std::string& why) {
    return Fail(ErrorCode::kCorruption, path + " is not a cairn store (" + why + ")");
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Fail(ErrorCode::kIOError, "cannot open " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kInvalidArgument, path + " is not a regular file");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kIOError, "cannot read " + path + ": " + std::strerror(errno));
  auto read_at = [&](std::size_t offset, unsigned char* out, std::size_t size) {
    return ::pread(fd, out, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
  };
  struct Meta {
    bool valid = false;
    std::uint64_t last_page = 0;
    std::uint64_t txnid = 0;
  };
  constexpr std::uint32_t kLmdbMagic = 0xBEEFC0DE;
  constexpr std::uint32_t kLmdbDataVersion = 1;
  constexpr std::uint16_t kPageMeta = 0x08;
  auto parse = [&](const unsigned char* page, std::uint32_t* page_size) {
    Meta meta;
    std::uint16_t flags = 0;
    std::uint32_t magic = 0, version = 0;
    std::memcpy(&flags, page + 10, 2);
    std::memcpy(&magic, page + 16, 4);
    std::memcpy(&version, page + 20, 4);
    if (magic != kLmdbMagic || version != kLmdbDataVersion || (flags & kPageMeta) == 0) return meta;
    if (page_size != nullptr) std::memcpy(page_size, page + 40, 4);
    std::memcpy(&meta.last_page, page + 136, 8);
    std::memcpy(&meta.txnid, page + 144, 8);
    meta.valid = true;
    return meta;
  };
  unsigned char page[152] = {};
  std::uint32_t page_size = 0;
  Meta first, second;
  if (read_at(0, page, sizeof page)) first = parse(page, &page_size);
  const bool page_size_ok = page_size >= 512 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
  if (first.valid && page_size_ok && read_at(page_size, page, sizeof page)) second = parse(page, nullptr);
  // The size is taken after the meta pages were read: a writer in another
  // process may commit meanwhile, and its meta page may then point into pages
  // it added to the file. The file only grows, so a size taken later covers them.
  struct stat after {};
  const bool sized = ::fstat(fd, &after) == 0;
  ::close(fd);
  if (!sized) return Fail(ErrorCode::kIOError, "cannot read " + path + ": " + std::strerror(errno));
  if (!first.valid || !page_size_ok) return refuse("not an LMDB environment");
  const auto file_size = static_cast<std::uint64_t>(after.st_size);
  if (file_size < 2ull * page_size) return refuse("a truncated LMDB environment");
  // LMDB uses the meta page with the newer transaction; its pages must all be in the file.
  const Meta& current = second.valid && second.txnid > first.txnid ? second : first;
  if (current.last_page >= file_size / page_size) {
    return refuse("a damaged LMDB environment: its meta page points past the end of the file");
  }
  return {};
}

Status ProbeUnusedDataFile(const std::string& path) {
  auto opened = OpenEnv(path, MDB_RDONLY | MDB_NOLOCK);
  if (!opened) return Fail(opened.error());
  return {};
}

Status CreateDataFile(const std::string& path, const Options& options) {
  const std::string temp = path + ".creating-" + std::to_string(::getpid());
  auto remove_temp = [&] {
    ::unlink(temp.c_str());
    ::unlink(LockFilePath(temp).c_str());
  };
  remove_temp();
  Status made = [&]() -> Status {
    MDB_env* raw = nullptr;
    int rc = mdb_env_create(&raw);
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot create " + path));
    EnvHandle env(raw);
    mdb_env_set_maxdbs(raw, kMaxDatabases);
    mdb_env_set_maxreaders(raw, kMaxReaders);
    const std::size_t map_bytes = RoundUp(std::max(options.lmdb_initial_map_bytes, kMinMapBytes),
                                          static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
    if (rc = mdb_env_set_mapsize(raw, map_bytes); rc != MDB_SUCCESS)
      return Fail(LmdbError(rc, "cannot create " + path));
    rc = mdb_env_open(raw, temp.c_str(), MDB_NOSUBDIR, kFileMode);
    if (rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot create " + path));
    MDB_txn* txn_raw = nullptr;
    if (rc = mdb_txn_begin(raw, nullptr, 0, &txn_raw); rc != MDB_SUCCESS) {
      return Fail(LmdbError(rc, "cannot create " + path));
    }
    Txn txn(txn_raw);
    MDB_dbi meta = 0;
    for (const char* name :
         {kMetaDb, "events", "stream_index", "event_ids", "category_index", "streams", kSnapshotsDb, kSchemasDb}) {
      MDB_dbi dbi = 0;
      if (rc = mdb_dbi_open(txn.get(), name, MDB_CREATE, &dbi); rc != MDB_SUCCESS) {
        return Fail(LmdbError(rc, "cannot create " + path));
      }
      if (std::string_view(name) == kMetaDb) meta = dbi;
    }
    const std::string version = std::to_string(kFormatVersion);
    const std::string created_at = NowIso8601();
    const std::pair<std::string_view, std::string_view> entries[] = {
        {"magic", kMagic}, {"format_version", version}, {"created_at", created_at}};
    for (const auto& [key, value] : entries) {
      MDB_val k = ValOf(key), v = ValOf(value);
      if (rc = mdb_put(txn.get(), meta, &k, &v, 0); rc != MDB_SUCCESS)
        return Fail(LmdbError(rc, "cannot create " + path));
    }
    if (rc = txn.Commit(); rc != MDB_SUCCESS) return Fail(LmdbError(rc, "cannot create " + path));
    return {};
  }();  // the temporary environment is closed here
  if (made && ::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    made = Fail(ErrorCode::kIOError, "cannot create " + path + ": " + std::strerror(errno));
  }
  remove_temp();
  if (!made) return made;
  // Make the new directory entry itself durable.
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return {};
}

}  // namespace cairn::detail::lmdb
