#include "common/key_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace provledger {

namespace {

std::string ErrnoText(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + strerror(err);
}

void Wipe(Bytes* s) {
  volatile char* p = s->data();
  for (size_t i = 0; i < s->size(); ++i) p[i] = 0;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes `fd` on every path out of a scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and reports the error (a deferred write error can surface here).
  int Close() {
    const int rc = close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Writes `contents` to a temporary file beside `path`, fsyncs it, then moves it into place:
// with rename (replacing) when `overwrite`, else with link (kAlreadyExists if `path` exists).
// The folder is fsynced afterwards so the new name survives a crash.
Status WriteAtomic(const std::string& path, ByteView contents, int mode, bool overwrite) {
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

// Reads all of `fd` into `out`.
Status ReadAll(int fd, const std::string& path, Bytes* out) {
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

}  // namespace

Status WriteFileAtomically(const std::string& path, ByteView contents, int mode) {
  return WriteAtomic(path, contents, mode, /*overwrite=*/true);
}

StatusOr<Bytes> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + " not found");
    return InternalError(ErrnoText("cannot open", path, errno));
  }
  FdCloser closer(fd);
  Bytes out;
  PL_RETURN_IF_ERROR(ReadAll(fd, path, &out));
  return out;
}

Status WriteKeyFile(const std::string& path, const PrivateKey& key, bool overwrite) {
  Bytes line = HexEncode(key.secret()) + "\n";
  Status s = WriteAtomic(path, line, 0600, overwrite);
  Wipe(&line);
  return s;
}

StatusOr<PrivateKey> ReadKeyFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("key file " + path + " not found");
    return InternalError(ErrnoText("cannot open key file", path, errno));
  }
  FdCloser closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return InternalError(ErrnoText("cannot stat key file", path, errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError("key file " + path + " is not a file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDeniedError("key file " + path + " has mode " + mode +
                                 ": group or others may read it (want 0600)");
  }
  Bytes contents;
  contents.reserve(256);  // one buffer, so that Wipe reaches every copy of the secret
  Status read = ReadAll(fd, path, &contents);
  if (!read.ok()) {
    Wipe(&contents);
    return read;
  }
  std::string_view hex = contents;
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  StatusOr<PrivateKey> key = PrivateKey::FromHex(hex);
  Wipe(&contents);
  if (!key.ok()) {
    // The message of HexDecode/FromBytes never quotes the secret's digits.
    return InvalidArgumentError("key file " + path +
                                ": not one 64-hex-digit secret: " + key.status().message());
  }
  return key;
}

}  // namespace provledger
