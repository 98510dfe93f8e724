// File measurement where the kernel has no IMA: the hash of a file's bytes (SHA-256, or
// SM3 as an option, through OpenSSL EVP, read in 256 KiB pieces so a file of any size
// needs little memory), and a FileMeasurer that records, in the agent's own list, the
// watched files whose hash is new or changed.
//
// Thread rules: HashFile is thread-safe; a FileMeasurer is owned by one thread.
#ifndef PROVLEDGER_AGENT_FILE_MEASURER_H_
#define PROVLEDGER_AGENT_FILE_MEASURER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "agent/file_measurement_log.h"
#include "common/status.h"

namespace provledger::agent {

// "<algorithm>:<lowercase hex>" of the bytes of `path` (symlinks followed, as exec does).
// kInvalidArgument for an algorithm OpenSSL lacks; kNotFound if the file is gone;
// kInternal on other I/O errors (e.g. permission denied).
StatusOr<std::string> HashFile(const std::string& path, const std::string& algorithm);

struct FileMeasurerOptions {
  std::vector<std::string> roots;    // files and folders, folders measured recursively
  std::string algorithm = "sha256";  // or "sm3"
};

struct MeasureResult {
  size_t measured = 0;  // files hashed
  size_t recorded = 0;  // entries appended (new or changed hash)
  size_t failed = 0;    // files that could not be read (logged)
};

class FileMeasurer {
 public:
  // `log` outlives the measurer. kInvalidArgument for an unknown algorithm.
  static StatusOr<std::unique_ptr<FileMeasurer>> Create(FileMeasurerOptions options,
                                                        FileMeasurementLog* log);

  // Measures every regular file under the roots (folders recursively, in sorted order,
  // symlinks inside folders not followed). Errors of FileMeasurementLog::Record (an
  // unreadable file is counted, logged and skipped, never fatal).
  StatusOr<MeasureResult> ScanAll();

  // Measures `files` (as FileWatcher reports them); a file gone meanwhile is skipped.
  StatusOr<MeasureResult> Measure(const std::vector<std::string>& files);

 private:
  FileMeasurer(FileMeasurerOptions options, FileMeasurementLog* log)
      : options_(std::move(options)), log_(log) {}

  FileMeasurerOptions options_;
  FileMeasurementLog* log_;
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_FILE_MEASURER_H_
