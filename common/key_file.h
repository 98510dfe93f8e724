// Private key files: one line, 64 lowercase hex digits, file mode 0600. Generic file I/O is
// in common/file_io.h.
//
// Thread rules: free functions; concurrent writers of one path are the caller's problem.
#ifndef PROVLEDGER_COMMON_KEY_FILE_H_
#define PROVLEDGER_COMMON_KEY_FILE_H_

#include <string>

#include "common/ecdsa.h"

namespace provledger {

// Writes `key` to `path` with mode 0600 (written to a temporary file in the same folder,
// fsynced, then renamed). kAlreadyExists if `path` exists and !overwrite; kInternal on I/O.
Status WriteKeyFile(const std::string& path, const PrivateKey& key, bool overwrite = false);

// Reads a secret file whole (a TLS private key, a broker password): kNotFound if missing;
// kPermissionDenied if group or others may read it (mode & 077), naming `what` and the path.
// The caller wipes the result (Wipe) when done.
StatusOr<Bytes> ReadPrivateFile(const std::string& path, const std::string& what);

// Reads a key file. kNotFound if missing; kPermissionDenied if group or others may read it
// (mode & 077); kInvalidArgument if its contents are not one 64-hex-digit secret.
StatusOr<PrivateKey> ReadKeyFile(const std::string& path);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_KEY_FILE_H_
