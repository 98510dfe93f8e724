// Status and StatusOr: errors as values at every module boundary.
//
// Codes are numbered as google.rpc.Code (and grpc::StatusCode); common/grpc_status.h converts
// gRPC's status to ours. A Status is cheap to copy when OK. Thread rules: values, no shared state.
#ifndef PROVLEDGER_COMMON_STATUS_H_
#define PROVLEDGER_COMMON_STATUS_H_

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace provledger {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// Returns the canonical upper-case name of `code`, e.g. "INVALID_ARGUMENT".
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE: message", or "OK".
  std::string ToString() const;
  // Keeps the first error: replaces *this only when *this is OK.
  void Update(const Status& other) {
    if (ok() && !other.ok()) *this = other;
  }
  // Returns a copy whose message is "prefix: message" (OK stays OK).
  Status Annotate(const std::string& prefix) const {
    if (ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFoundError(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status AlreadyExistsError(std::string m) {
  return Status(StatusCode::kAlreadyExists, std::move(m));
}
inline Status PermissionDeniedError(std::string m) {
  return Status(StatusCode::kPermissionDenied, std::move(m));
}
inline Status ResourceExhaustedError(std::string m) {
  return Status(StatusCode::kResourceExhausted, std::move(m));
}
inline Status FailedPreconditionError(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
inline Status OutOfRangeError(std::string m) {
  return Status(StatusCode::kOutOfRange, std::move(m));
}
inline Status UnimplementedError(std::string m) {
  return Status(StatusCode::kUnimplemented, std::move(m));
}
inline Status InternalError(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status UnavailableError(std::string m) {
  return Status(StatusCode::kUnavailable, std::move(m));
}
inline Status DataLossError(std::string m) { return Status(StatusCode::kDataLoss, std::move(m)); }
inline Status UnauthenticatedError(std::string m) {
  return Status(StatusCode::kUnauthenticated, std::move(m));
}
inline Status DeadlineExceededError(std::string m) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m));
}
inline Status AbortedError(std::string m) { return Status(StatusCode::kAborted, std::move(m)); }

// How a client treats a failed submission of a batch of records (the one rule every path
// that resubmits batches follows: the bridge, tools).
enum class SubmitFailure {
  // The ledger could not answer (node down, view change, deadline, cancelled, an internal
  // fault on one node): retry the same batch, with backoff, on any node.
  kTransient,
  // The ledger answered, and the answer will not change (invalid, not allowed, a bad
  // signature, a failed precondition, already there): never resubmit the batch as is. A
  // batch of several records may hold one bad record an older node refuses the whole batch
  // for: split it; a single record is answered as refused and dropped.
  kPermanent,
  // kResourceExhausted means both "over the batch limits" (permanent for that batch) and "a
  // queue is full" (transient): split a batch of several records; retry a single one.
  kSplitOrRetry,
};
// The class of a failed submission's code. kOk is not a failure (kTransient is returned).
SubmitFailure ClassifySubmitFailure(StatusCode code);

// Holds either a value or a non-OK Status. Building one from OK is a bug: it becomes
// kInternal. Reading the value of an error aborts the process (it never throws).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : v_(status) {  // NOLINT: implicit by design
    if (status.ok()) v_ = Status(StatusCode::kInternal, "StatusOr built from OK status");
  }
  StatusOr(const T& value) : v_(value) {}        // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  const T& value() const& {
    CheckOk();
    return std::get<T>(v_);
  }
  T& value() & {
    CheckOk();
    return std::get<T>(v_);
  }
  T&& value() && {
    CheckOk();
    return std::get<T>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void CheckOk() const {
    if (!ok()) {
      std::fprintf(stderr, "StatusOr::value() on error: %s\n",
                   std::get<Status>(v_).ToString().c_str());
      std::abort();
    }
  }
  std::variant<Status, T> v_;
};

}  // namespace provledger

#define PL_STATUS_CONCAT_INNER_(a, b) a##b
#define PL_STATUS_CONCAT_(a, b) PL_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function with the Status of `expr` when it is not OK.
#define PL_RETURN_IF_ERROR(expr)                     \
  do {                                               \
    ::provledger::Status pl_status_tmp_ = (expr);    \
    if (!pl_status_tmp_.ok()) return pl_status_tmp_; \
  } while (0)

// Evaluates `rexpr` (a StatusOr); returns its error, or moves its value into `lhs`.
#define PL_ASSIGN_OR_RETURN(lhs, rexpr) \
  PL_ASSIGN_OR_RETURN_IMPL_(PL_STATUS_CONCAT_(pl_statusor_, __LINE__), lhs, rexpr)
#define PL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

#endif  // PROVLEDGER_COMMON_STATUS_H_
