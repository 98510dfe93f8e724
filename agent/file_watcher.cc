#include "agent/file_watcher.h"

#include <errno.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/file_io.h"

namespace provledger::agent {

namespace {

constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR;

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

FileWatcher::~FileWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<FileWatcher>> FileWatcher::Open(const std::vector<std::string>& roots) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return InternalError(ErrnoText("inotify_init1", "", errno));
  std::unique_ptr<FileWatcher> w(new FileWatcher(fd));
  FileChanges ignored;
  for (const std::string& raw : roots) {
    std::string root = raw;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    struct stat st;
    if (::stat(root.c_str(), &st) != 0) {
      return InvalidArgumentError(ErrnoText("watch path", root, errno));
    }
    if (S_ISDIR(st.st_mode)) {
      w->dir_roots_.insert(root);
      PL_RETURN_IF_ERROR(w->AddTree(root, &ignored));
    } else {
      w->file_roots_.insert(root);
      const std::string parent = Parent(root);
      const int wd = ::inotify_add_watch(fd, parent.c_str(), kMask);
      if (wd < 0) return InternalError(ErrnoText("inotify_add_watch", parent, errno));
      w->dirs_[wd] = parent;
    }
  }
  return w;
}

bool FileWatcher::Wanted(const std::string& path) const {
  if (file_roots_.count(path) > 0) return true;
  for (const std::string& root : dir_roots_) {
    if (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
        (path[root.size()] == '/' || root == "/")) {
      return true;
    }
  }
  return false;
}

Status FileWatcher::AddTree(const std::string& dir, FileChanges* found) {
  const int wd = ::inotify_add_watch(fd_, dir.c_str(), kMask);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status();  // gone again already
    return InternalError(ErrnoText("inotify_add_watch", dir, errno));
  }
  dirs_[wd] = dir;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::filesystem::file_status s = it->symlink_status(ec);
    if (ec) break;
    const std::string child = it->path().string();
    if (std::filesystem::is_directory(s)) {
      PL_RETURN_IF_ERROR(AddTree(child, found));
    } else if (std::filesystem::is_regular_file(s)) {
      found->files.push_back(child);  // may have appeared before the watch did
    }
  }
  return Status();
}

StatusOr<FileChanges> FileWatcher::Wait(int timeout_ms) {
  FileChanges out;
  struct pollfd p = {fd_, POLLIN, 0};
  int ready = ::poll(&p, 1, timeout_ms);
  if (ready < 0 && errno != EINTR) return InternalError(ErrnoText("poll", "inotify", errno));
  alignas(struct inotify_event) char buf[64 * 1024];
  while (ready > 0) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return InternalError(ErrnoText("read", "inotify", errno));
    }
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {
        out.rescan = true;
        continue;
      }
      auto dir = dirs_.find(ev->wd);
      if (dir == dirs_.end()) continue;
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (!(ev->mask & IN_IGNORED)) ::inotify_rm_watch(fd_, ev->wd);
        dirs_.erase(dir);
        continue;
      }
      if (ev->len == 0) continue;
      const std::string path = Join(dir->second, ev->name);
      if (ev->mask & IN_ISDIR) {
        if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && Wanted(path)) {
          PL_RETURN_IF_ERROR(AddTree(path, &out));
        }
        continue;
      }
      if (!Wanted(path)) continue;
      if (ev->mask & IN_CREATE) {
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
      }
      out.files.push_back(path);
    }
    ready = 1;  // drain what is queued without waiting again
  }
  std::sort(out.files.begin(), out.files.end());
  out.files.erase(std::unique(out.files.begin(), out.files.end()), out.files.end());
  return out;
}

}  // namespace provledger::agent
