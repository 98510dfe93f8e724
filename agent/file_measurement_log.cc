#include "agent/file_measurement_log.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "agent/digest.h"
#include "agent/ima_log.h"
#include "common/file_io.h"
#include "device_protocol/integrity_report.h"

namespace provledger::agent {

FileMeasurementLog::~FileMeasurementLog() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<FileMeasurementLog>> FileMeasurementLog::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return InternalError(ErrnoText("open", path, errno));
  std::unique_ptr<FileMeasurementLog> log(new FileMeasurementLog(path, fd));
  Bytes text;
  PL_RETURN_IF_ERROR(ReadAllFrom(fd, path, &text));
  const size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  if (complete != text.size()) {
    if (::ftruncate(fd, static_cast<off_t>(complete)) != 0 || ::fsync(fd) != 0) {
      return InternalError(ErrnoText("truncate torn line of", path, errno));
    }
  }
  if (::lseek(fd, 0, SEEK_END) < 0) return InternalError(ErrnoText("lseek", path, errno));
  size_t pos = 0, line_no = 0;
  while (pos < complete) {
    const size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    StatusOr<ImaEntry> e = ParseImaLine(line);
    if (!e.ok()) {
      return DataLossError(path + ":" + std::to_string(line_no) + ": " + e.status().message());
    }
    log->last_[e->path] = e->file_hash();
    ++log->entries_;
  }
  return log;
}

std::string FileMeasurementLog::LastHash(const std::string& path) const {
  std::string listed = path;
  for (char& c : listed) {
    if (c == ' ') c = '_';
  }
  auto it = last_.find(listed);
  return it == last_.end() ? std::string() : it->second;
}

StatusOr<bool> FileMeasurementLog::Record(const std::string& path, const std::string& file_hash) {
  if (path.empty() || path.size() > device_protocol::kMaxMeasuredPathBytes ||
      path.find('\n') != std::string::npos || path.find('\0') != std::string::npos) {
    return InvalidArgumentError("path cannot be listed (empty, too long or with a newline)");
  }
  if (!device_protocol::IsMeasurementHash(file_hash)) {
    return InvalidArgumentError("not a measurement hash");
  }
  ImaEntry e;
  e.pcr = 0;
  e.templ = std::string(device_protocol::kTemplateFile);
  e.path = path;
  for (char& c : e.path) {
    if (c == ' ') c = '_';  // as the kernel does: the list's fields are space-separated
  }
  auto it = last_.find(e.path);
  if (it != last_.end() && it->second == file_hash) return false;
  const size_t colon = file_hash.find(':');
  e.hash_algorithm = file_hash.substr(0, colon);
  PL_ASSIGN_OR_RETURN(e.file_digest, HexDecode(file_hash.substr(colon + 1)));
  PL_ASSIGN_OR_RETURN(e.template_hash, Digest("sha1", TemplateData(e)));
  const std::string line = FormatImaLine(e) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return InternalError(ErrnoText("append to", path_, errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) return InternalError(ErrnoText("fsync", path_, errno));
  last_[e.path] = file_hash;
  ++entries_;
  return true;
}

}  // namespace provledger::agent
