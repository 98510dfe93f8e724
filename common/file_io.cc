#include "common/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace provledger {

namespace {

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string ErrnoText(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + strerror(err);
}

FdCloser::~FdCloser() {
  if (fd_ >= 0) close(fd_);
}

int FdCloser::Close() {
  const int rc = close(fd_);
  fd_ = -1;
  return rc;
}

Status WriteFileAtomically(const std::string& path, ByteView contents, int mode, bool overwrite) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());  // created with mode 0600
  if (fd < 0) return InternalError(ErrnoText("cannot create temporary file for", path, errno));
  FdCloser closer(fd);
  auto fail = [&tmp](const std::string& what, int err) {
    unlink(tmp.c_str());
    return InternalError(ErrnoText(what, tmp, err));
  };
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("cannot chmod", errno);
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write", errno);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot fsync", errno);
  if (closer.Close() != 0) return fail("cannot close", errno);
  if (overwrite) {
    if (rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename to " + path, errno);
  } else {
    if (link(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      unlink(tmp.c_str());
      if (err == EEXIST) return AlreadyExistsError(path + " already exists");
      return InternalError(ErrnoText("cannot link", path, err));
    }
    unlink(tmp.c_str());
  }
  const std::string dir = DirName(path);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return InternalError(ErrnoText("cannot open folder", dir, errno));
  FdCloser dir_closer(dfd);
  if (fsync(dfd) != 0) return InternalError(ErrnoText("cannot fsync folder", dir, errno));
  return OkStatus();
}

Status ReadAllFrom(int fd, const std::string& path, Bytes* out) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return InternalError(ErrnoText("cannot read", path, errno));
    }
    if (n == 0) return OkStatus();
    out->append(buf, static_cast<size_t>(n));
  }
}

StatusOr<Bytes> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + " not found");
    return InternalError(ErrnoText("cannot open", path, errno));
  }
  FdCloser closer(fd);
  Bytes out;
  PL_RETURN_IF_ERROR(ReadAllFrom(fd, path, &out));
  return out;
}

}  // namespace provledger
