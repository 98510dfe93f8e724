#include "common/grpc_status.h"

namespace provledger {

namespace {

constexpr bool SameNumber(StatusCode ours, grpc::StatusCode theirs) {
  return static_cast<int>(ours) == static_cast<int>(theirs);
}
static_assert(SameNumber(StatusCode::kOk, grpc::StatusCode::OK));
static_assert(SameNumber(StatusCode::kCancelled, grpc::StatusCode::CANCELLED));
static_assert(SameNumber(StatusCode::kUnknown, grpc::StatusCode::UNKNOWN));
static_assert(SameNumber(StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT));
static_assert(SameNumber(StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED));
static_assert(SameNumber(StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND));
static_assert(SameNumber(StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS));
static_assert(SameNumber(StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED));
static_assert(SameNumber(StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED));
static_assert(SameNumber(StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION));
static_assert(SameNumber(StatusCode::kAborted, grpc::StatusCode::ABORTED));
static_assert(SameNumber(StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE));
static_assert(SameNumber(StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED));
static_assert(SameNumber(StatusCode::kInternal, grpc::StatusCode::INTERNAL));
static_assert(SameNumber(StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE));
static_assert(SameNumber(StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS));
static_assert(SameNumber(StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED));

}  // namespace

Status FromGrpc(const grpc::Status& gs) {
  if (gs.ok()) return OkStatus();
  const int code = static_cast<int>(gs.error_code());
  if (code <= static_cast<int>(StatusCode::kOk) ||
      code > static_cast<int>(StatusCode::kUnauthenticated)) {
    return Status(StatusCode::kUnknown, gs.error_message());
  }
  return Status(static_cast<StatusCode>(code), gs.error_message());
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

}  // namespace provledger
