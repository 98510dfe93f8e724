#include "agent/file_measurer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "agent/digest.h"
#include "common/bytes.h"
#include "common/file_io.h"
#include "common/log.h"

namespace provledger::agent {

namespace {

constexpr size_t kChunk = 256 * 1024;

}  // namespace

StatusOr<std::string> HashFile(const std::string& path, const std::string& algorithm) {
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Digester> d, Digester::Create(algorithm));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError(ErrnoText("open", path, err));
    return InternalError(ErrnoText("open", path, err));
  }
  FdCloser closer(fd);
  // On the heap, per call: a static thread_local buffer would be 256 KiB of TLS in every
  // thread of the process, and threads made with a small fixed stack (CivetWeb's, for
  // --metrics_listen) then fail to start (EINVAL). One allocation per file is nothing
  // beside reading it.
  std::unique_ptr<char[]> chunk(new char[kChunk]);
  char* const buf = chunk.get();
  for (;;) {
    const ssize_t n = ::read(fd, buf, kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return InternalError(ErrnoText("read", path, errno));
    }
    if (n == 0) break;
    d->Update(ByteView(buf, static_cast<size_t>(n)));
  }
  return algorithm + ":" + HexEncode(d->Finish());
}

StatusOr<std::unique_ptr<FileMeasurer>> FileMeasurer::Create(FileMeasurerOptions options,
                                                             FileMeasurementLog* log) {
  PL_RETURN_IF_ERROR(Digester::Create(options.algorithm).status());
  return std::unique_ptr<FileMeasurer>(new FileMeasurer(std::move(options), log));
}

StatusOr<MeasureResult> FileMeasurer::ScanAll() {
  std::vector<std::string> files;
  for (const std::string& root : options_.roots) {
    std::error_code ec;
    if (std::filesystem::is_directory(root, ec)) {
      std::filesystem::recursive_directory_iterator it(
          root, std::filesystem::directory_options::skip_permission_denied, ec);
      for (std::filesystem::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && !it->is_symlink(ec)) files.push_back(it->path().string());
      }
      if (ec) LogWarn("scan_incomplete").Kv("root", root).Kv("error", ec.message());
    } else {
      files.push_back(root);
    }
  }
  std::sort(files.begin(), files.end());
  return Measure(files);
}

StatusOr<MeasureResult> FileMeasurer::Measure(const std::vector<std::string>& files) {
  MeasureResult r;
  for (const std::string& f : files) {
    StatusOr<std::string> h = HashFile(f, options_.algorithm);
    if (!h.ok()) {
      if (h.status().code() != StatusCode::kNotFound) {
        ++r.failed;
        LogWarn("measure_failed").Kv("path", f).Kv("error", h.status().message());
      }
      continue;
    }
    ++r.measured;
    StatusOr<bool> added = log_->Record(f, *h);
    if (!added.ok()) {
      if (added.status().code() != StatusCode::kInvalidArgument) return added.status();
      ++r.failed;
      LogWarn("measure_unlistable").Kv("error", added.status().message());
      continue;
    }
    if (*added) {
      ++r.recorded;
      LogInfo("file_measured").Kv("path", f).Kv("hash", *h);
    }
  }
  return r;
}

}  // namespace provledger::agent
