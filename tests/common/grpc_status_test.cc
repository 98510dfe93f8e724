// FromGrpc and ToGrpc (common/grpc_status.h): what a caller of a node sees of the node's
// gRPC status, and what a node answers.
#include "common/grpc_status.h"

#include <string>

#include "gtest/gtest.h"

namespace provledger {
namespace {

struct CodePair {
  grpc::StatusCode grpc;
  StatusCode ours;
  const char* name;  // both sides' name of the code
};

// Every code gRPC defines, by name (grpcpp/impl/codegen/status_code_enum.h).
const CodePair kEveryErrorCode[] = {
    {grpc::StatusCode::CANCELLED, StatusCode::kCancelled, "CANCELLED"},
    {grpc::StatusCode::UNKNOWN, StatusCode::kUnknown, "UNKNOWN"},
    {grpc::StatusCode::INVALID_ARGUMENT, StatusCode::kInvalidArgument, "INVALID_ARGUMENT"},
    {grpc::StatusCode::DEADLINE_EXCEEDED, StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
    {grpc::StatusCode::NOT_FOUND, StatusCode::kNotFound, "NOT_FOUND"},
    {grpc::StatusCode::ALREADY_EXISTS, StatusCode::kAlreadyExists, "ALREADY_EXISTS"},
    {grpc::StatusCode::PERMISSION_DENIED, StatusCode::kPermissionDenied, "PERMISSION_DENIED"},
    {grpc::StatusCode::RESOURCE_EXHAUSTED, StatusCode::kResourceExhausted, "RESOURCE_EXHAUSTED"},
    {grpc::StatusCode::FAILED_PRECONDITION, StatusCode::kFailedPrecondition, "FAILED_PRECONDITION"},
    {grpc::StatusCode::ABORTED, StatusCode::kAborted, "ABORTED"},
    {grpc::StatusCode::OUT_OF_RANGE, StatusCode::kOutOfRange, "OUT_OF_RANGE"},
    {grpc::StatusCode::UNIMPLEMENTED, StatusCode::kUnimplemented, "UNIMPLEMENTED"},
    {grpc::StatusCode::INTERNAL, StatusCode::kInternal, "INTERNAL"},
    {grpc::StatusCode::UNAVAILABLE, StatusCode::kUnavailable, "UNAVAILABLE"},
    {grpc::StatusCode::DATA_LOSS, StatusCode::kDataLoss, "DATA_LOSS"},
    {grpc::StatusCode::UNAUTHENTICATED, StatusCode::kUnauthenticated, "UNAUTHENTICATED"},
};

TEST(FromGrpc, GivesEachErrorCodeAsOurCodeOfTheSameNameWithItsMessage) {
  for (const CodePair& c : kEveryErrorCode) {
    SCOPED_TRACE(c.name);
    const Status s = FromGrpc(grpc::Status(c.grpc, std::string("node says ") + c.name));
    EXPECT_EQ(s.code(), c.ours);
    EXPECT_STREQ(StatusCodeName(s.code()), c.name);
    EXPECT_EQ(s.message(), std::string("node says ") + c.name);
  }
}

TEST(FromGrpc, CoversEveryErrorCodeOnce) {
  // 16 error codes: CANCELLED (1) to UNAUTHENTICATED (16), each once.
  bool seen[17] = {};
  for (const CodePair& c : kEveryErrorCode) {
    const int n = static_cast<int>(c.grpc);
    ASSERT_GE(n, 1);
    ASSERT_LE(n, 16);
    EXPECT_FALSE(seen[n]) << c.name;
    seen[n] = true;
  }
  EXPECT_EQ(sizeof kEveryErrorCode / sizeof kEveryErrorCode[0], 16u);
}

TEST(FromGrpc, GivesOkAsOk) {
  EXPECT_TRUE(FromGrpc(grpc::Status::OK).ok());
  EXPECT_TRUE(FromGrpc(grpc::Status()).ok());
}

TEST(FromGrpc, GivesACodeGrpcDoesNotDefineAsUnknownKeepingTheMessage) {
  // Within the enum's value range (0-31, its enumerators fit in 5 bits): a value outside it
  // cannot be held by a grpc::StatusCode at all (UBSan: "not a valid value").
  for (int n : {17, 20, 31}) {
    SCOPED_TRACE(n);
    const Status s = FromGrpc(grpc::Status(static_cast<grpc::StatusCode>(n), "odd"));
    EXPECT_EQ(s.code(), StatusCode::kUnknown);
    EXPECT_EQ(s.message(), "odd");
  }
}

TEST(FromGrpc, DropsTheErrorDetails) {
  const Status s =
      FromGrpc(grpc::Status(grpc::StatusCode::INTERNAL, "disk", std::string("\x08\x01", 2)));
  EXPECT_EQ(s.ToString(), "INTERNAL: disk");
}

TEST(ToGrpc, GivesEachErrorCodeAsGrpcsCodeOfTheSameNameWithItsMessage) {
  for (const CodePair& c : kEveryErrorCode) {
    SCOPED_TRACE(c.name);
    const grpc::Status gs = ToGrpc(Status(c.ours, std::string("node says ") + c.name));
    EXPECT_EQ(gs.error_code(), c.grpc);
    EXPECT_EQ(gs.error_message(), std::string("node says ") + c.name);
    EXPECT_TRUE(gs.error_details().empty());
    EXPECT_EQ(FromGrpc(gs).ToString(),
              Status(c.ours, std::string("node says ") + c.name).ToString());
  }
}

TEST(ToGrpc, GivesOkAsOk) {
  EXPECT_TRUE(ToGrpc(OkStatus()).ok());
  EXPECT_TRUE(ToGrpc(OkStatus()).error_message().empty());
}

}  // namespace
}  // namespace provledger
