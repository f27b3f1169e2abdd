#include "tests/testing/test_certs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

// RunCommand executes a path, not a name looked up in PATH.
std::string OpensslBinary() {
  for (const char* path : {"/usr/bin/openssl", "/usr/local/bin/openssl"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "openssl";
}

absl::Status Run(std::vector<std::string> argv) {
  argv[0] = OpensslBinary();
  CommandResult result = RunCommand(argv, {});
  if (result.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(argv[0], " ", argv[1], " failed: ", result.err));
}

// A self-signed CA certificate and key.
absl::Status MakeCa(const std::string& prefix, const std::string& name) {
  return Run({"openssl",
              "req",
              "-x509",
              "-newkey",
              "ec",
              "-pkeyopt",
              "ec_paramgen_curve:prime256v1",
              "-nodes",
              "-keyout",
              prefix + ".key",
              "-out",
              prefix + ".pem",
              "-days",
              "2",
              "-subj",
              "/CN=" + name,
              "-addext",
              "basicConstraints=critical,CA:TRUE",
              "-addext",
              "keyUsage=critical,keyCertSign,cRLSign"});
}

// A leaf key and certificate signed by the CA at `ca`, with the extensions in
// `extensions` (an openssl extfile body).
absl::Status MakeLeaf(const std::string& prefix, const std::string& ca,
                      const std::string& name, const std::string& extensions) {
  const std::string ext_file = prefix + ".ext";
  if (absl::Status s = WritePrivateFile(ext_file, extensions); !s.ok()) {
    return s;
  }
  if (absl::Status s = Run({"openssl", "req", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                            prefix + ".key", "-out", prefix + ".csr", "-subj",
                            "/CN=" + name});
      !s.ok()) {
    return s;
  }
  return Run({"openssl", "x509", "-req", "-in", prefix + ".csr", "-CA",
              ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial", "-out",
              prefix + ".pem", "-days", "2", "-extfile", ext_file});
}

}  // namespace

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  mkdir(dir.c_str(), 0700);
  const std::string ca = dir + "/ca";
  const std::string rogue_ca = dir + "/rogue-ca";
  const std::string server = dir + "/server";
  const std::string client = dir + "/client";
  const std::string rogue = dir + "/rogue-client";
  const std::string leaf =
      "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n";
  for (absl::Status s :
       {MakeCa(ca, "tokens test CA"), MakeCa(rogue_ca, "rogue CA"),
        MakeLeaf(server, ca, "localhost",
                 leaf + "extendedKeyUsage=serverAuth\n"
                        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"),
        MakeLeaf(client, ca, "verifier-1",
                 leaf + "extendedKeyUsage=clientAuth\n"),
        MakeLeaf(rogue, rogue_ca, "verifier-rogue",
                 leaf + "extendedKeyUsage=clientAuth\n")}) {
    if (!s.ok()) return s;
  }
  TestCerts certs;
  certs.ca_cert = ca + ".pem";
  certs.server_cert = server + ".pem";
  certs.server_key = server + ".key";
  certs.client_cert = client + ".pem";
  certs.client_key = client + ".key";
  certs.rogue_client_cert = rogue + ".pem";
  certs.rogue_client_key = rogue + ".key";
  return certs;
}

}  // namespace tokens::testing
