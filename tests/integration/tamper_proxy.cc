// tamper_proxy: test tool, a lying full node. Serves the Ledger service's reads by forwarding
// them to a real node (--backend) and flips one byte of what comes back in GetProof and
// GetRecord (--tamper: the record bytes, an audit path hash, or the header), the way a
// compromised or broken full node would answer a light node
// (tests/integration/light_fetch_test.py). Every other method answers UNIMPLEMENTED.
//
//   tamper_proxy --listen=HOST:PORT --backend=HOST:PORT [--tamper=record|path|header]
//
// Prints "tamper_proxy ready" once it listens; logs one line per answer it tampered.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "client/channel_options.h"
#include "common/command_line.h"
#include "common/process.h"
#include "proto/ledger.grpc.pb.h"

ABSL_FLAG(std::string, listen, "", "HOST:PORT to serve on (required)");
ABSL_FLAG(std::string, backend, "", "HOST:PORT of the real node (required)");
ABSL_FLAG(std::string, tamper, "record", "what to flip a byte of: record, path or header");

namespace provledger {
namespace {

namespace v1 = provledger::v1;

void Flip(std::string* s) {
  if (!s->empty()) (*s)[s->size() / 2] = static_cast<char>((*s)[s->size() / 2] ^ 0x01);
}

class TamperService final : public v1::Ledger::Service {
 public:
  TamperService(std::unique_ptr<v1::Ledger::Stub> backend, std::string what)
      : backend_(std::move(backend)), what_(std::move(what)) {}

  grpc::Status GetStatus(grpc::ServerContext*, const v1::StatusRequest* req,
                         v1::NodeStatus* resp) override {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return backend_->GetStatus(&ctx, *req, resp);
  }

  grpc::Status GetProof(grpc::ServerContext*, const v1::GetProofRequest* req,
                        v1::Proof* resp) override {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    grpc::Status s = backend_->GetProof(&ctx, *req, resp);
    if (!s.ok()) return s;
    if (what_ == "path" && resp->audit_path_size() > 0) {
      Flip(resp->mutable_audit_path(0));
    } else if (what_ == "header") {
      Flip(resp->mutable_header());
    } else {
      Flip(resp->mutable_record());
    }
    std::fprintf(stderr, "tamper_proxy: flipped a byte of the %s in a proof of block %llu\n",
                 what_.c_str(), static_cast<unsigned long long>(resp->height()));
    return grpc::Status::OK;
  }

  grpc::Status GetRecord(grpc::ServerContext*, const v1::GetRecordRequest* req,
                         v1::RecordResponse* resp) override {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    grpc::Status s = backend_->GetRecord(&ctx, *req, resp);
    if (!s.ok()) return s;
    Flip(resp->mutable_record());
    std::fprintf(stderr, "tamper_proxy: flipped a byte of a record of block %llu\n",
                 static_cast<unsigned long long>(resp->height()));
    return grpc::Status::OK;
  }

 private:
  static void Deadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  std::unique_ptr<v1::Ledger::Stub> backend_;
  std::string what_;
};

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  PL_ASSIGN_OR_RETURN(std::string listen, Require(FLAGS_listen));
  PL_ASSIGN_OR_RETURN(std::string backend, Require(FLAGS_backend));
  const std::string what = absl::GetFlag(FLAGS_tamper);
  if (what != "record" && what != "path" && what != "header") {
    return InvalidArgumentError("--tamper must be record, path or header");
  }
  TamperService service(
      v1::Ledger::NewStub(grpc::CreateCustomChannel(backend, grpc::InsecureChannelCredentials(),
                                                    client::LedgerChannelArguments())),
      what);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return UnavailableError("cannot listen on " + listen);
  std::printf("tamper_proxy ready on %s, backend %s, tampering with the %s\n", listen.c_str(),
              backend.c_str(), what.c_str());
  std::fflush(stdout);
  RunUntilStopSignal([] {});
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return OkStatus();
}

}  // namespace
}  // namespace provledger

int main(int argc, char** argv) {
  provledger::Status s = provledger::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "tamper_proxy: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
