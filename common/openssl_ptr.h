// Owners of OpenSSL objects (std::unique_ptr with the matching *_free), and PEM readers into
// them, for code that holds certificates and keys across a few calls (common/tls_certs,
// client/transport_security).
//
// Thread rules: values; an object is used by one thread at a time, as OpenSSL asks.
#ifndef PROVLEDGER_COMMON_OPENSSL_PTR_H_
#define PROVLEDGER_COMMON_OPENSSL_PTR_H_

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string_view>

namespace provledger {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* s) const { X509_STORE_CTX_free(s); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;

// The first certificate in `pem`; null when there is none (OpenSSL's error queue then holds
// why: the caller clears or reports it).
inline X509Ptr ReadPemCert(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

// The first unencrypted private key in `pem`; null as ReadPemCert.
inline KeyPtr ReadPemKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return KeyPtr(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_OPENSSL_PTR_H_
