// ClassifySubmitFailure (common/status.h): the one rule for resubmitting a failed batch.
#include "common/status.h"

#include "gtest/gtest.h"

namespace provledger {
namespace {

TEST(ClassifySubmitFailure, RetriesWhatTheLedgerCouldNotAnswer) {
  for (StatusCode c : {StatusCode::kUnavailable, StatusCode::kDeadlineExceeded,
                       StatusCode::kAborted, StatusCode::kCancelled, StatusCode::kUnknown,
                       StatusCode::kInternal, StatusCode::kDataLoss}) {
    SCOPED_TRACE(StatusCodeName(c));
    EXPECT_EQ(ClassifySubmitFailure(c), SubmitFailure::kTransient);
  }
}

TEST(ClassifySubmitFailure, NeverResubmitsARefusalAsIs) {
  for (StatusCode c :
       {StatusCode::kInvalidArgument, StatusCode::kPermissionDenied, StatusCode::kUnauthenticated,
        StatusCode::kFailedPrecondition, StatusCode::kAlreadyExists, StatusCode::kNotFound,
        StatusCode::kOutOfRange, StatusCode::kUnimplemented}) {
    SCOPED_TRACE(StatusCodeName(c));
    EXPECT_EQ(ClassifySubmitFailure(c), SubmitFailure::kPermanent);
  }
}

TEST(ClassifySubmitFailure, SplitsABatchOverTheLimitsOrRetriesAFullQueue) {
  EXPECT_EQ(ClassifySubmitFailure(StatusCode::kResourceExhausted), SubmitFailure::kSplitOrRetry);
}

}  // namespace
}  // namespace provledger
