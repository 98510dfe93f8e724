#include "common/key_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/file_io.h"

namespace provledger {

Status WriteKeyFile(const std::string& path, const PrivateKey& key, bool overwrite) {
  Bytes line = HexEncode(key.secret()) + "\n";
  Status s = WriteFileAtomically(path, line, 0600, overwrite);
  Wipe(&line);
  return s;
}

StatusOr<Bytes> ReadPrivateFile(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(what + " " + path + " not found");
    return InternalError(ErrnoText("cannot open " + what, path, errno));
  }
  FdCloser closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return InternalError(ErrnoText("cannot stat " + what, path, errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(what + " " + path + " is not a file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDeniedError(what + " " + path + " has mode " + mode +
                                 ": group or others may read it (want 0600)");
  }
  Bytes contents;
  contents.reserve(st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 256);  // one buffer
  Status read = ReadAllFrom(fd, path, &contents);
  if (!read.ok()) {
    Wipe(&contents);
    return read;
  }
  return contents;
}

StatusOr<PrivateKey> ReadKeyFile(const std::string& path) {
  // One buffer, so that Wipe reaches every copy of the secret.
  PL_ASSIGN_OR_RETURN(Bytes contents, ReadPrivateFile(path, "key file"));
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
