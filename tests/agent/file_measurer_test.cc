// The file measurer: hashes of known bytes (expected values from Python's hashlib and
// `openssl dgst -sm3`), the agent's own list kept durably across reopen and a torn line,
// and changes noticed through inotify without polling.
#include "agent/file_measurer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/agent_state.h"
#include "agent/file_measurement_log.h"
#include "agent/file_watcher.h"
#include "agent/ima_log.h"
#include "agent/measurement_cursor.h"
#include "common/bytes.h"
#include "common/file_io.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/agent/test_paths.h"

namespace provledger::agent {
namespace {

constexpr char kHelloSha256[] =
    "sha256:f45f7870c441d7b6ae4e8702c85e5ebd069edd8f193d6249cca31567201f74a1";
constexpr char kEmptySm3[] = "sm3:1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b";

void Write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(WriteFileAtomically(path, text, 0644).ok());
}

// Writes in place (open, write, close): IN_CLOSE_WRITE, as an editor or `cp` does.
void WriteInPlace(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

// Waits for the watcher to report `path`, up to ~10 s.
bool Noticed(FileWatcher* w, const std::string& path) {
  for (int i = 0; i < 100; ++i) {
    StatusOr<FileChanges> c = w->Wait(100);
    if (!c.ok()) return false;
    for (const std::string& f : c->files) {
      if (f == path) return true;
    }
  }
  return false;
}

TEST(FileMeasurerTest, HashOfKnownBytes) {
  const std::string dir = MakeTempDir();
  Write(dir + "/hello", "hello agent\n");
  Write(dir + "/empty", "");
  StatusOr<std::string> h = HashFile(dir + "/hello", "sha256");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(*h, kHelloSha256);
  StatusOr<std::string> s = HashFile(dir + "/empty", "sm3");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, kEmptySm3);
  // Bigger than one read: 200 KiB of 'a', against a one-shot digest.
  std::string big(200 * 1024, 'a');
  Write(dir + "/big", big);
  StatusOr<std::string> b = HashFile(dir + "/big", "sha256");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "sha256:" + HexEncode(Sha256(big)));
  EXPECT_EQ(HashFile(dir + "/missing", "sha256").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(HashFile(dir + "/hello", "nohash").status().code(), StatusCode::kInvalidArgument);
}

TEST(FileMeasurerTest, OwnListIsDurableVerifiableAndCutsATornLine) {
  const std::string dir = MakeTempDir();
  const std::string list = dir + "/list";
  {
    StatusOr<std::unique_ptr<FileMeasurementLog>> log = FileMeasurementLog::Open(list);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    StatusOr<bool> a = (*log)->Record("/etc/agent.conf", kHelloSha256);
    ASSERT_TRUE(a.ok() && *a);
    StatusOr<bool> again = (*log)->Record("/etc/agent.conf", kHelloSha256);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);  // same hash: no new entry
    StatusOr<bool> spaced = (*log)->Record("/opt/my tool", kEmptySm3);
    ASSERT_TRUE(spaced.ok() && *spaced);
    EXPECT_FALSE((*log)->Record("/bad\nname", kEmptySm3).ok());
  }
  StatusOr<Bytes> text = ReadFile(list);
  ASSERT_TRUE(text.ok());
  // The line Python's hashlib gives for this entry (see testdata/README.md's recipe).
  EXPECT_EQ(text->substr(0, text->find('\n')), " 0 b4bd7511e654709f472101100a7d5cb10804991c file " +
                                                   std::string(kHelloSha256) + " /etc/agent.conf");
  ImaChunk chunk = ParseImaList(*text, 1, 100);
  EXPECT_TRUE(chunk.skipped.empty());
  ASSERT_EQ(chunk.entries.size(), 2u);
  EXPECT_EQ(chunk.entries[1].path, "/opt/my_tool");

  // A crash mid-append leaves a torn line: cut when reopened, the rest kept.
  {
    std::FILE* f = std::fopen(list.c_str(), "ab");
    std::fputs(" 0 b4bd75", f);
    std::fclose(f);
  }
  StatusOr<std::unique_ptr<FileMeasurementLog>> log = FileMeasurementLog::Open(list);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->size(), 2u);
  EXPECT_EQ((*log)->LastHash("/opt/my tool"), kEmptySm3);
  StatusOr<bool> changed = (*log)->Record("/etc/agent.conf", kEmptySm3);
  ASSERT_TRUE(changed.ok() && *changed);
  text = ReadFile(list);
  chunk = ParseImaList(*text, 1, 100);
  EXPECT_TRUE(chunk.skipped.empty());
  EXPECT_EQ(chunk.entries.size(), 3u);
}

TEST(FileMeasurerTest, ScanAllRecordsEachFileOnceAndChangesAgain) {
  const std::string dir = MakeTempDir();
  ASSERT_EQ(::mkdir((dir + "/watched").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((dir + "/watched/sub").c_str(), 0700), 0);
  Write(dir + "/watched/a", "hello agent\n");
  Write(dir + "/watched/sub/b", "");
  StatusOr<std::unique_ptr<FileMeasurementLog>> log = FileMeasurementLog::Open(dir + "/list");
  ASSERT_TRUE(log.ok());
  StatusOr<std::unique_ptr<FileMeasurer>> m =
      FileMeasurer::Create(FileMeasurerOptions{{dir + "/watched"}, "sha256"}, log->get());
  ASSERT_TRUE(m.ok());
  StatusOr<MeasureResult> r = (*m)->ScanAll();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->measured, 2u);
  EXPECT_EQ(r->recorded, 2u);
  r = (*m)->ScanAll();  // unchanged: nothing new
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->recorded, 0u);
  WriteInPlace(dir + "/watched/a", "changed\n");
  r = (*m)->ScanAll();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->recorded, 1u);
  EXPECT_EQ((*log)->size(), 3u);
  EXPECT_FALSE(FileMeasurer::Create(FileMeasurerOptions{{dir}, "nohash"}, log->get()).ok());
}

TEST(FileMeasurerTest, InotifyNoticesWritesRenamesAndNewFolders) {
  const std::string dir = MakeTempDir();
  ASSERT_EQ(::mkdir((dir + "/bin").c_str(), 0700), 0);
  Write(dir + "/bin/tool", "v1");
  Write(dir + "/single", "x");
  StatusOr<std::unique_ptr<FileWatcher>> w = FileWatcher::Open({dir + "/bin", dir + "/single"});
  ASSERT_TRUE(w.ok()) << w.status().ToString();

  StatusOr<FileChanges> quiet = (*w)->Wait(50);
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->files.empty());

  WriteInPlace(dir + "/bin/tool", "v2");  // IN_CLOSE_WRITE
  EXPECT_TRUE(Noticed(w->get(), dir + "/bin/tool"));
  Write(dir + "/bin/tool", "v3");  // temp file renamed over it: IN_MOVED_TO
  EXPECT_TRUE(Noticed(w->get(), dir + "/bin/tool"));
  ASSERT_EQ(::chmod((dir + "/bin/tool").c_str(), 0755), 0);  // IN_ATTRIB
  EXPECT_TRUE(Noticed(w->get(), dir + "/bin/tool"));
  ASSERT_EQ(::mkdir((dir + "/bin/new").c_str(), 0700), 0);  // a new folder gets watched
  EXPECT_EQ((*w)->Wait(2000).ok(), true);
  WriteInPlace(dir + "/bin/new/inner", "y");
  EXPECT_TRUE(Noticed(w->get(), dir + "/bin/new/inner"));
  WriteInPlace(dir + "/single", "z");  // a file root, through its folder
  EXPECT_TRUE(Noticed(w->get(), dir + "/single"));
  WriteInPlace(dir + "/other", "not watched");
  StatusOr<FileChanges> c = (*w)->Wait(200);
  ASSERT_TRUE(c.ok());
  for (const std::string& f : c->files) EXPECT_NE(f, dir + "/other");
  EXPECT_FALSE(FileWatcher::Open({dir + "/missing"}).ok());
}

TEST(FileMeasurerTest, ChangeNoticedBecomesTheNextReportEntry) {
  const std::string dir = MakeTempDir();
  const std::string boot = "0f0e0d0c-0b0a-4908-8706-050403020100";
  Write(dir + "/boot_id", boot + "\n");
  ASSERT_EQ(::mkdir((dir + "/bin").c_str(), 0700), 0);
  Write(dir + "/bin/tool", "v1");
  CursorOptions co;
  co.list_path = dir + "/files-{boot}.list";
  co.boot_id_path = dir + "/boot_id";
  StatusOr<StateStore> store = StateStore::Open(dir + "/state.json");
  ASSERT_TRUE(store.ok());
  MeasurementCursor cursor(co, &*store);
  StatusOr<std::unique_ptr<FileMeasurementLog>> log =
      FileMeasurementLog::Open(cursor.ListPath(boot));
  ASSERT_TRUE(log.ok());
  StatusOr<std::unique_ptr<FileMeasurer>> m =
      FileMeasurer::Create(FileMeasurerOptions{{dir + "/bin"}, "sha256"}, log->get());
  ASSERT_TRUE(m.ok());
  StatusOr<std::unique_ptr<FileWatcher>> w = FileWatcher::Open({dir + "/bin"});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*m)->ScanAll().ok());
  StatusOr<PendingBatch> first = cursor.ReadNew();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->entries.size(), 1u);
  ASSERT_TRUE(cursor.Commit(*first).ok());

  WriteInPlace(dir + "/bin/tool", "tampered");
  std::vector<std::string> changed;
  for (int i = 0; i < 100 && changed.empty(); ++i) {
    StatusOr<FileChanges> c = (*w)->Wait(100);
    ASSERT_TRUE(c.ok());
    changed = c->files;
  }
  ASSERT_FALSE(changed.empty());
  ASSERT_TRUE((*m)->Measure(changed).ok());
  StatusOr<PendingBatch> next = cursor.ReadNew();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->from, 1u);
  ASSERT_EQ(next->entries.size(), 1u);
  device_protocol::MeasurementEntry e = ToMeasurementEntry(next->entries[0]);
  EXPECT_EQ(e.templ, "file");
  EXPECT_EQ(e.pcr, 0u);
  EXPECT_EQ(e.path, dir + "/bin/tool");
  StatusOr<std::string> h = HashFile(dir + "/bin/tool", "sha256");
  EXPECT_EQ(e.hash, *h);
}

}  // namespace
}  // namespace provledger::agent
