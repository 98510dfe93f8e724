// FileWatcher: tells the agent which watched files may have changed, without polling,
// through inotify. Every folder under the watched roots is watched (folders created later
// too); a root that is a file is watched through its folder, filtered by name.
//
// Events: IN_CLOSE_WRITE (written and closed), IN_MOVED_TO (renamed into place, as package
// managers install), IN_ATTRIB (mode or owner changed, or a new hard link), IN_CREATE (a
// new folder is watched and scanned; a new non-empty file, e.g. made by link(), is
// reported: an empty one was just opened for writing and IN_CLOSE_WRITE follows),
// IN_DELETE_SELF / IN_MOVE_SELF (a watched folder went away: its watch is dropped; the
// folder is watched again if it comes back under a watched parent). A queue overflow asks
// for a full rescan.
//
// Thread rules: owned by one thread; not thread-safe.
#ifndef PROVLEDGER_AGENT_FILE_WATCHER_H_
#define PROVLEDGER_AGENT_FILE_WATCHER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace provledger::agent {

struct FileChanges {
  std::vector<std::string> files;  // paths that may have changed, sorted, each once
  bool rescan = false;             // events were lost: measure every watched file again
};

class FileWatcher {
 public:
  // Watches `roots` (files or folders; each must exist). kInvalidArgument naming a root
  // that does not exist; kInternal when inotify cannot be set up (e.g. out of watches).
  static StatusOr<std::unique_ptr<FileWatcher>> Open(const std::vector<std::string>& roots);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Waits up to timeout_ms for events (then gathers what else is queued) and returns the
  // files they concern under the roots; empty when none came. kInternal on I/O.
  StatusOr<FileChanges> Wait(int timeout_ms);

  size_t watched_folders() const { return dirs_.size(); }

 private:
  explicit FileWatcher(int fd) : fd_(fd) {}
  Status AddTree(const std::string& dir, FileChanges* found);
  bool Wanted(const std::string& path) const;

  int fd_;
  std::map<int, std::string> dirs_;   // watch descriptor -> folder
  std::set<std::string> dir_roots_;   // roots that are folders
  std::set<std::string> file_roots_;  // roots that are files
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_FILE_WATCHER_H_
