// Generic file I/O: whole-file reads, atomic (temporary file, fsync, rename or link, folder
// fsync) writes, and the small helpers the key file reader shares.
//
// Thread rules: free functions; concurrent writers of one path are the caller's problem.
#ifndef PROVLEDGER_COMMON_FILE_IO_H_
#define PROVLEDGER_COMMON_FILE_IO_H_

#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger {

// Writes `contents` to `path` atomically with `mode`: a temporary file beside `path`, fsynced,
// then moved into place (rename, replacing, when `overwrite`; else link, kAlreadyExists if
// `path` exists), then the folder fsynced so the new name survives a crash. kInternal on I/O.
Status WriteFileAtomically(const std::string& path, ByteView contents, int mode,
                           bool overwrite = true);

// Reads a whole file. kNotFound if missing; kInternal on other I/O errors.
StatusOr<Bytes> ReadFile(const std::string& path);

// Appends all of the open file `fd` (named `path` in errors) to *out; kInternal on I/O.
Status ReadAllFrom(int fd, const std::string& path, Bytes* out);

// "<what> <path>: <strerror(err)>".
std::string ErrnoText(const std::string& what, const std::string& path, int err);

// Closes `fd` on every path out of a scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser();
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and returns close(2)'s result (a deferred write error can surface here).
  int Close();

 private:
  int fd_;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_FILE_IO_H_
