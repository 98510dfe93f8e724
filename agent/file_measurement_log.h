// FileMeasurementLog: the agent's own measurement list where the kernel has no IMA, kept
// durably in the kernel's text layout (ima_log.h) with template "file" and PCR 0, so the
// same MeasurementCursor reads it and indices stay stable across restarts. One list per
// boot id (the kernel's), like IMA's. A line is appended, then fsynced, before Record
// returns; a torn last line (a crash mid-append) is cut off when the list is opened.
//
// Thread rules: owned by one thread; not thread-safe.
#ifndef PROVLEDGER_AGENT_FILE_MEASUREMENT_LOG_H_
#define PROVLEDGER_AGENT_FILE_MEASUREMENT_LOG_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::agent {

class FileMeasurementLog {
 public:
  // Opens `path` (created with mode 0600 if missing), cuts a trailing partial line and
  // loads the last hash of every path. kDataLoss for a complete line it cannot parse (the
  // list is the agent's own: a bad line means it was damaged); kInternal on I/O.
  static StatusOr<std::unique_ptr<FileMeasurementLog>> Open(const std::string& path);
  ~FileMeasurementLog();
  FileMeasurementLog(const FileMeasurementLog&) = delete;
  FileMeasurementLog& operator=(const FileMeasurementLog&) = delete;

  // Appends an entry for `path` with `file_hash` ("<alg>:<hex>") unless the last entry for
  // `path` has this hash; true when appended (durable). Spaces in the path become '_' as
  // the kernel writes them. kInvalidArgument for a path with a newline, empty, or longer
  // than section 7 allows, or a malformed hash; kInternal on I/O.
  StatusOr<bool> Record(const std::string& path, const std::string& file_hash);

  // The last hash recorded for `path` (after the '_' replacement), empty if none.
  std::string LastHash(const std::string& path) const;
  size_t size() const { return entries_; }

 private:
  FileMeasurementLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
  size_t entries_ = 0;
  std::map<std::string, std::string> last_;  // path -> last "<alg>:<hex>"
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_FILE_MEASUREMENT_LOG_H_
