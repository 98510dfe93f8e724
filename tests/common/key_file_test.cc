#include "common/key_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/file_io.h"

namespace provledger {
namespace {

constexpr char kSecretHex[] = "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/keyfile.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& name : Listing()) unlink((dir_ + "/" + name).c_str());
    rmdir(dir_.c_str());
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> Listing() const {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    return names;
  }
  static int Mode(const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return -1;
    return static_cast<int>(st.st_mode & 07777);
  }

  std::string dir_;
};

TEST_F(KeyFileTest, WritesKeyFileWithMode0600AndOneHexLine) {
  const std::string path = Path("node.key");
  ASSERT_TRUE(WriteKeyFile(path, *PrivateKey::FromHex(kSecretHex)).ok());
  EXPECT_EQ(Mode(path), 0600);
  auto contents = ReadFile(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(*contents, std::string(kSecretHex) + "\n");
}

TEST_F(KeyFileTest, ReadsBackTheKeyItWrote) {
  const std::string path = Path("node.key");
  const PrivateKey key = PrivateKey::Generate();
  ASSERT_TRUE(WriteKeyFile(path, key).ok());
  auto read = ReadKeyFile(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->secret(), key.secret());
}

TEST_F(KeyFileTest, LeavesNoTemporaryFileBehind) {
  ASSERT_TRUE(WriteKeyFile(Path("node.key"), PrivateKey::Generate()).ok());
  EXPECT_EQ(Listing(), std::vector<std::string>{"node.key"});
}

TEST_F(KeyFileTest, RefusesKeyFileReadableByGroupOrOthers) {
  for (int mode : {0644, 0640, 0604, 0660}) {
    SCOPED_TRACE(mode);
    const std::string path = Path("loose.key");
    ASSERT_TRUE(WriteFileAtomically(path, std::string(kSecretHex) + "\n", mode).ok());
    ASSERT_EQ(Mode(path), mode);
    EXPECT_EQ(ReadKeyFile(path).status().code(), StatusCode::kPermissionDenied);
  }
}

TEST_F(KeyFileTest, AcceptsOwnerOnlyModes) {
  const std::string path = Path("strict.key");
  ASSERT_TRUE(WriteFileAtomically(path, kSecretHex, 0400).ok());
  auto key = ReadKeyFile(path);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(HexEncode(key->secret()), kSecretHex);
}

TEST_F(KeyFileTest, ReportsMissingKeyFileAsNotFound) {
  EXPECT_EQ(ReadKeyFile(Path("absent.key")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(Path("absent")).status().code(), StatusCode::kNotFound);
}

TEST_F(KeyFileTest, RefusesToOverwriteUnlessAsked) {
  const std::string path = Path("node.key");
  const PrivateKey first = PrivateKey::Generate();
  const PrivateKey second = PrivateKey::Generate();
  ASSERT_TRUE(WriteKeyFile(path, first).ok());
  EXPECT_EQ(WriteKeyFile(path, second).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadKeyFile(path)->secret(), first.secret());
  EXPECT_EQ(Listing(), std::vector<std::string>{"node.key"});
  ASSERT_TRUE(WriteKeyFile(path, second, /*overwrite=*/true).ok());
  EXPECT_EQ(ReadKeyFile(path)->secret(), second.secret());
  EXPECT_EQ(Mode(path), 0600);
}

TEST_F(KeyFileTest, RefusesContentsThatAreNotOneHexSecret) {
  const std::string bad[] = {
      "",
      "5d9f",
      "5D9F2B8EC483416AB589811CD23778C8D62F9ACA57EEE8CD6CA4A9B7577B6B95\n",
      std::string(kSecretHex) + "\n\n",
      std::string(kSecretHex) + " \n",
      std::string(kSecretHex) + "00\n",
      std::string(64, '0') + "\n",  // the zero scalar
  };
  for (const std::string& contents : bad) {
    SCOPED_TRACE(contents);
    const std::string path = Path("bad.key");
    ASSERT_TRUE(WriteFileAtomically(path, contents, 0600).ok());
    const Status s = ReadKeyFile(path).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.message().find("5d9f2b8e"), std::string::npos) << "message leaks the secret";
  }
}

TEST_F(KeyFileTest, WriteFileAtomicallyReplacesContentsWithGivenMode) {
  const std::string path = Path("data.bin");
  ASSERT_TRUE(WriteFileAtomically(path, "old", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string("new\0bytes", 9), 0640).ok());
  EXPECT_EQ(*ReadFile(path), std::string("new\0bytes", 9));
  EXPECT_EQ(Mode(path), 0640);
  EXPECT_EQ(Listing(), std::vector<std::string>{"data.bin"});
}

TEST_F(KeyFileTest, WriteFailsInsideAMissingFolder) {
  EXPECT_EQ(WriteKeyFile(Path("no/such/dir/node.key"), PrivateKey::Generate()).code(),
            StatusCode::kInternal);
}

}  // namespace
}  // namespace provledger
