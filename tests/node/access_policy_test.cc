// The role table (node/access_policy.h), the identity URI and test certificates
// (common/tls_certs.h), and the checks LoadTransport makes on TLS files
// (client/transport_security.h).
#include "node/access_policy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "client/transport_security.h"
#include "common/file_io.h"
#include "common/tls_certs.h"
#include "proto/consensus.grpc.pb.h"

namespace provledger::node {
namespace {

PeerIdentity Who(Role role, std::string id, std::vector<std::string> devices = {}) {
  PeerIdentity p;
  p.role = role;
  p.id = std::move(id);
  p.devices = std::move(devices);
  return p;
}

bool Allowed(const PeerIdentity& who, const std::string& method) {
  return CheckMethod(who, "/provledger.v1." + method).ok();
}

TEST(CheckMethod, EachRoleCallsWhatItsRowSays) {
  const auto admin = Who(Role::kAdmin, "ops"), gateway = Who(Role::kGateway, "gw-1"),
             reader = Who(Role::kReader, "r"), peer = Who(Role::kPeer, "v0"),
             limited = Who(Role::kReader, "clinic", {"dev-1"});
  EXPECT_TRUE(Allowed(gateway, "Ledger/Submit"));
  EXPECT_TRUE(Allowed(peer, "Ledger/Submit"));  // a follower forwards
  EXPECT_FALSE(Allowed(reader, "Ledger/Submit"));
  EXPECT_FALSE(Allowed(admin, "Ledger/Submit"));
  EXPECT_TRUE(Allowed(admin, "Ledger/SubmitRegistry"));
  EXPECT_FALSE(Allowed(gateway, "Ledger/SubmitRegistry"));
  EXPECT_FALSE(Allowed(reader, "Ledger/SubmitFirmware"));
  EXPECT_TRUE(Allowed(reader, "Ledger/History"));
  EXPECT_FALSE(Allowed(gateway, "Ledger/History"));
  EXPECT_TRUE(Allowed(gateway, "Ledger/Devices"));
  EXPECT_TRUE(Allowed(reader, "Ledger/GetBlock"));
  EXPECT_FALSE(Allowed(limited, "Ledger/GetBlock"));  // every device's records
  EXPECT_TRUE(Allowed(limited, "Ledger/GetProof"));   // checked on the answer
  EXPECT_TRUE(Allowed(peer, "Consensus/Deliver"));
  EXPECT_TRUE(Allowed(peer, "StateSync/GetStateRows"));
  for (const auto& who : {admin, gateway, reader}) {
    EXPECT_FALSE(Allowed(who, "Consensus/Deliver")) << RoleName(who.role);
    EXPECT_FALSE(Allowed(who, "StateSync/GetHeaders")) << RoleName(who.role);
  }
  EXPECT_FALSE(Allowed(peer, "Ledger/NoSuchMethod"));
  const grpc::Status s = CheckMethod(reader, "/provledger.v1.Ledger/Submit");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("reader"), std::string::npos) << s.error_message();
}

TEST(CheckSubmitAs, APlaintextServerHasNoIdentitiesToCheck) {
  EXPECT_TRUE(CheckSubmitAs(nullptr, "gw-2").ok());
  EXPECT_TRUE(CheckDevice(nullptr, "dev-9", "History").ok());
}

TEST(IdentityUri, RoundTripsAndRefusesWhatIsNotOurs) {
  const auto limited = Who(Role::kReader, "clinic", {"dev-1", "dev-2"});
  EXPECT_EQ(IdentityUri(limited), "provledger:role=reader;id=clinic;devices=dev-1,dev-2");
  auto back = ParseIdentityUri(IdentityUri(limited));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->role, Role::kReader);
  EXPECT_EQ(back->id, "clinic");
  EXPECT_EQ(back->devices, limited.devices);
  for (const char* bad :
       {"spiffe://x/y", "provledger:role=root;id=a", "provledger:id=a", "provledger:role=peer",
        "provledger:role=peer;id=a;devices=d", "provledger:role=peer;id=a b",
        "provledger:role=peer;id=a;id=b", "provledger:role=reader;id=a;devices=x,,y",
        "provledger:role=peer;id=a;extra=1"}) {
    EXPECT_FALSE(ParseIdentityUri(bad).ok()) << bad;
  }
}

class TransportFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
           "/transport_files";
    ::mkdir(dir_.c_str(), 0700);
    auto ca = MakeCa("test CA", 1);
    ASSERT_TRUE(ca.ok());
    ca_ = *ca;
    Write("ca.pem", ca_.cert_pem, 0644);
    CertRequest r;
    r.identity = Who(Role::kPeer, "v0");
    r.hosts = {"127.0.0.1", "localhost"};
    auto issued = IssueCert(ca_, r);
    ASSERT_TRUE(issued.ok()) << issued.status().ToString();
    Write("v0.pem", issued->cert_pem, 0644);
    Write("v0.key", issued->key_pem, 0600);
  }
  void Write(const std::string& name, const std::string& text, int mode) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/" + name, text, mode, true).ok());
    ::chmod((dir_ + "/" + name).c_str(), mode);
  }
  client::TransportFiles Files(const std::string& cert, const std::string& key) {
    client::TransportFiles f;
    f.ca = dir_ + "/ca.pem";
    f.cert = dir_ + "/" + cert;
    f.key = dir_ + "/" + key;
    return f;
  }
  std::string dir_;
  CertAndKey ca_;
};

TEST_F(TransportFilesTest, LoadsACertificateOfTheCaWithItsKey) {
  auto p = client::LoadTransport(Files("v0.pem", "v0.key"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->insecure);
}

TEST_F(TransportFilesTest, RefusesAKeyOthersMayRead) {
  ::chmod((dir_ + "/v0.key").c_str(), 0644);
  auto p = client::LoadTransport(Files("v0.pem", "v0.key"));
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied) << p.status().ToString();
}

TEST_F(TransportFilesTest, RefusesAnotherCertificatesKeyAndAnotherCasCertificate) {
  auto other_ca = MakeCa("other CA", 1);
  ASSERT_TRUE(other_ca.ok());
  CertRequest r;
  r.identity = Who(Role::kAdmin, "mallory");
  auto foreign = IssueCert(*other_ca, r);
  ASSERT_TRUE(foreign.ok());
  Write("m.pem", foreign->cert_pem, 0644);
  Write("m.key", foreign->key_pem, 0600);
  auto mismatch = client::LoadTransport(Files("v0.pem", "m.key"));
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.status().message().find("is not the key"), std::string::npos);
  auto unsigned_by_ca = client::LoadTransport(Files("m.pem", "m.key"));
  EXPECT_EQ(unsigned_by_ca.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unsigned_by_ca.status().message().find("does not verify"), std::string::npos);
}

TEST_F(TransportFilesTest, NeedsAllThreeFilesOrInsecureAlone) {
  client::TransportFiles none;
  auto p = client::LoadTransport(none);
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("--insecure"), std::string::npos);
  client::TransportFiles both = Files("v0.pem", "v0.key");
  both.insecure = true;
  EXPECT_FALSE(client::LoadTransport(both).ok());
  client::TransportFiles plain;
  plain.insecure = true;
  auto ok = client::LoadTransport(plain);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->insecure);
}

// The Consensus service's view of its caller, as PbftOrderer's evidence lines name it.
class WhoDelivered final : public provledger::v1::Consensus::Service {
 public:
  grpc::Status Deliver(grpc::ServerContext* ctx, const provledger::v1::Delivery*,
                       provledger::v1::DeliveryAck*) override {
    peer = AuthenticatedPeer(ctx);
    return grpc::Status::OK;
  }
  std::string peer;
};

// Calls Deliver once on a server with `server_creds`, through `channel_creds`.
std::string DeliveredBy(std::shared_ptr<grpc::ServerCredentials> server_creds,
                        std::shared_ptr<grpc::ChannelCredentials> channel_creds) {
  WhoDelivered service;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", server_creds, &port);
  b.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  if (port == 0) return "no server";
  auto stub = provledger::v1::Consensus::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), channel_creds));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  provledger::v1::Delivery d;
  d.set_sender(2);  // claimed: the certificate below names v1
  provledger::v1::DeliveryAck ack;
  grpc::Status s = stub->Deliver(&ctx, d, &ack);
  server->Shutdown();
  return s.ok() ? service.peer : "call failed: " + s.error_message();
}

TEST(AuthenticatedPeer, NamesTheCertificatesIdentityNotTheClaimedSender) {
  EXPECT_EQ(AuthenticatedPeer(nullptr), "unauthenticated");
  EXPECT_EQ(DeliveredBy(grpc::InsecureServerCredentials(), grpc::InsecureChannelCredentials()),
            "unauthenticated");

  auto ca = MakeCa("test-ca", 1);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  CertRequest server_req;
  server_req.identity = Who(Role::kPeer, "v0");
  server_req.hosts = {"127.0.0.1"};
  auto server_cert = IssueCert(*ca, server_req);
  CertRequest client_req;
  client_req.identity = Who(Role::kPeer, "v1");
  auto client_cert = IssueCert(*ca, client_req);
  ASSERT_TRUE(server_cert.ok() && client_cert.ok());
  grpc::SslServerCredentialsOptions so(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  so.pem_root_certs = ca->cert_pem;
  so.pem_key_cert_pairs.push_back({server_cert->key_pem, server_cert->cert_pem});
  grpc::SslCredentialsOptions co;
  co.pem_root_certs = ca->cert_pem;
  co.pem_private_key = client_cert->key_pem;
  co.pem_cert_chain = client_cert->cert_pem;
  EXPECT_EQ(DeliveredBy(grpc::SslServerCredentials(so), grpc::SslCredentials(co)), "v1");
}

}  // namespace
}  // namespace provledger::node
