#include "agent/measurement_cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "common/file_io.h"

namespace provledger::agent {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

device_protocol::IntegrityReport PendingBatch::Report() const {
  device_protocol::IntegrityReport r;
  r.boot = boot;
  r.from = from;
  r.entries.reserve(entries.size());
  for (const ImaEntry& e : entries) r.entries.push_back(ToMeasurementEntry(e));
  return r;
}

StatusOr<std::string> ReadBootId(const std::string& path) {
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (!device_protocol::IsBootId(text)) {
    return InvalidArgumentError(path + ": not a lowercase boot id");
  }
  return text;
}

std::string MeasurementCursor::ListPath(const std::string& boot) const {
  std::string path = options_.list_path;
  const size_t at = path.find("{boot}");
  if (at != std::string::npos) path.replace(at, 6, boot);
  return path;
}

StatusOr<PendingBatch> MeasurementCursor::ReadNew() {
  PL_ASSIGN_OR_RETURN(std::string boot, ReadBootId(options_.boot_id_path));
  ListPosition start = store_->state().position;
  if (start.boot != boot) start = ListPosition{boot, 0, 0, 1};  // a new boot, a new list

  const std::string path = ListPath(boot);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string text = ErrnoText("open", path, err);
    if (err == ENOENT) return NotFoundError(text);
    return InternalError(text);
  }
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return InternalError(ErrnoText("fstat", path, errno));
  // securityfs lists are regular files of st_size 0 whatever their length: a size says
  // nothing there. A file that shrank to nothing is caught below (no byte at the position).
  if (S_ISREG(st.st_mode) && st.st_size > 0 &&
      static_cast<uint64_t>(st.st_size) < start.byte_offset) {
    return DataLossError(path + " is " + std::to_string(st.st_size) +
                         " bytes, shorter than the acknowledged position " +
                         std::to_string(start.byte_offset) + " of boot " + boot);
  }
  // Read from one byte before the position, to check it starts a line.
  const uint64_t read_from = start.byte_offset > 0 ? start.byte_offset - 1 : 0;
  if (::lseek(fd, static_cast<off_t>(read_from), SEEK_SET) < 0) {
    return InternalError(ErrnoText("lseek", path, errno));
  }
  Bytes text;
  char buf[kReadChunk];
  while (text.size() < options_.max_read_bytes) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return InternalError(ErrnoText("read", path, errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::string_view view(text);
  if (start.byte_offset > 0) {
    if (view.empty()) {
      return DataLossError(path + " ends before the acknowledged position " +
                           std::to_string(start.byte_offset) + " of boot " + boot);
    }
    if (view[0] != '\n') {
      return DataLossError(path + ": the acknowledged position " +
                           std::to_string(start.byte_offset) + " is not at a line start");
    }
    view.remove_prefix(1);
  }
  ImaChunk chunk = ParseImaList(view, start.next_line, options_.max_entries);
  // Cut the chunk where its report would pass max_report_bytes.
  device_protocol::IntegrityReport sizing{boot, start.next_index, {}};
  const size_t empty = device_protocol::IntegrityReportJson(sizing).size();
  size_t bytes = empty;
  for (size_t i = 0; i < chunk.entries.size(); ++i) {
    sizing.entries.assign(1, ToMeasurementEntry(chunk.entries[i]));
    bytes += device_protocol::IntegrityReportJson(sizing).size() - empty + (i > 0 ? 1 : 0);
    if (i > 0 && bytes > options_.max_report_bytes) {
      chunk.entries.resize(i);
      std::tie(chunk.consumed_bytes, chunk.lines) = chunk.entry_ends[i - 1];
      const uint64_t last_line = start.next_line + chunk.lines - 1;
      auto beyond = [last_line](uint64_t line) { return line > last_line; };
      chunk.skipped.erase(std::remove_if(chunk.skipped.begin(), chunk.skipped.end(),
                                         [&](const LineIssue& x) { return beyond(x.line); }),
                          chunk.skipped.end());
      chunk.violations.erase(
          std::remove_if(chunk.violations.begin(), chunk.violations.end(), beyond),
          chunk.violations.end());
      break;
    }
  }
  PendingBatch batch;
  batch.boot = boot;
  batch.from = start.next_index;
  batch.end = start;
  batch.end.next_index += chunk.entries.size();
  batch.end.byte_offset += chunk.consumed_bytes;
  batch.end.next_line += chunk.lines;
  batch.entries = std::move(chunk.entries);
  batch.skipped = std::move(chunk.skipped);
  batch.violations = std::move(chunk.violations);
  return batch;
}

Status MeasurementCursor::Commit(const PendingBatch& batch) {
  if (batch.end == store_->state().position) return Status();
  return store_->SetPosition(batch.end);
}

}  // namespace provledger::agent
