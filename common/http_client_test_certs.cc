#include "common/http_client_test_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"

namespace tokens::testing {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return absl::InternalError("X509V3_EXT_conf_nid");
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return added == 1 ? absl::OkStatus() : absl::InternalError("X509_add_ext");
}

// A certificate for `key` named `common_name`, signed by `issuer` with
// `issuer_key` (self-signed when issuer is null).
absl::StatusOr<Cert> MakeCert(EVP_PKEY* key, const char* common_name,
                              X509* issuer, EVP_PKEY* issuer_key, bool ca,
                              const char* subject_alt_name, long serial) {
  Cert cert(X509_new());
  if (cert == nullptr) return absl::InternalError("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  absl::Status status = AddExtension(cert.get(), signer, NID_basic_constraints,
                                     ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (status.ok()) {
    status = AddExtension(cert.get(), signer, NID_key_usage,
                          ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                             : "critical,digitalSignature");
  }
  if (status.ok()) {
    status =
        AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  }
  if (status.ok() && subject_alt_name != nullptr) {
    status = AddExtension(cert.get(), signer, NID_subject_alt_name,
                          subject_alt_name);
  }
  if (!status.ok()) return status;
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key,
                EVP_sha256()) == 0) {
    return absl::InternalError("X509_sign");
  }
  return cert;
}

absl::Status WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return absl::InternalError("cannot write " + path);
  const bool ok = cert != nullptr
                      ? PEM_write_X509(file, cert) == 1
                      : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0,
                                             nullptr, nullptr) == 1;
  return std::fclose(file) == 0 && ok
             ? absl::OkStatus()
             : absl::InternalError("cannot write " + path);
}

}  // namespace

absl::StatusOr<WebhookTestCerts> MakeWebhookTestCerts(const std::string& dir) {
  Key ca_key(EVP_EC_gen("P-256"));
  Key server_key(EVP_EC_gen("P-256"));
  Key other_key(EVP_EC_gen("P-256"));
  Key wrong_key(EVP_EC_gen("P-256"));
  if (!ca_key || !server_key || !other_key || !wrong_key) {
    return absl::InternalError("EVP_EC_gen");
  }
  absl::StatusOr<Cert> ca = MakeCert(ca_key.get(), "webhook test CA", nullptr,
                                     nullptr, /*ca=*/true, nullptr, 1);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<Cert> server =
      MakeCert(server_key.get(), "localhost", ca->get(), ca_key.get(),
               /*ca=*/false, "DNS:localhost,IP:127.0.0.1", 2);
  if (!server.ok()) return server.status();
  absl::StatusOr<Cert> other = MakeCert(other_key.get(), "other test CA",
                                        nullptr, nullptr, true, nullptr, 3);
  if (!other.ok()) return other.status();
  absl::StatusOr<Cert> wrong =
      MakeCert(wrong_key.get(), "elsewhere.example", nullptr, nullptr,
               /*ca=*/true, "DNS:elsewhere.example", 4);
  if (!wrong.ok()) return wrong.status();

  WebhookTestCerts out;
  out.ca_cert = absl::StrCat(dir, "/ca.pem");
  out.server_cert = absl::StrCat(dir, "/server.pem");
  out.server_key = absl::StrCat(dir, "/server-key.pem");
  out.other_ca_cert = absl::StrCat(dir, "/other-ca.pem");
  out.wrong_name_cert = absl::StrCat(dir, "/wrong-name.pem");
  out.wrong_name_key = absl::StrCat(dir, "/wrong-name-key.pem");
  for (absl::Status written : {
           WritePem(out.ca_cert, ca->get(), nullptr),
           WritePem(out.server_cert, server->get(), nullptr),
           WritePem(out.server_key, nullptr, server_key.get()),
           WritePem(out.other_ca_cert, other->get(), nullptr),
           WritePem(out.wrong_name_cert, wrong->get(), nullptr),
           WritePem(out.wrong_name_key, nullptr, wrong_key.get()),
       }) {
    if (!written.ok()) return written;
  }
  return out;
}

}  // namespace tokens::testing
