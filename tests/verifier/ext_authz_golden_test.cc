// Golden bytes for the in-repo subset of Envoy's ext_authz protos: each
// message is written in protobuf text format, and its encoding must equal
// bytes worked out by hand from upstream's field numbers (written next to each
// byte). If a field number in proto/envoy/ or proto/google/rpc/ drifts from
// upstream, these fail.
#include <google/protobuf/text_format.h>

#include <string>

#include "envoy/service/auth/v3/external_auth.pb.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

namespace auth = envoy::service::auth::v3;

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
    hex += ' ';
  }
  if (!hex.empty()) hex.pop_back();
  return hex;
}

template <class Message>
Message FromText(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message));
  return message;
}

TEST(ExtAuthzGoldenTest, CheckRequestFieldNumbers) {
  const auto request = FromText<auth::CheckRequest>(R"pb(
    attributes {
      source { address { socket_address { address: "1.2.3.4" port_value: 5 } } }
      request {
        http {
          headers { key: "authorization" value: "Bearer t" }
          path: "/a?b=1"
        }
      }
      context_extensions { key: "op" value: "x" }
    }
  )pb");
  const std::string want =
      // CheckRequest.attributes = 1, 65 bytes
      "0a 41 "
      // AttributeContext.source = 1 > Peer.address = 1 > Address.socket_address
      // = 1
      "0a 0f 0a 0d 0a 0b "
      // SocketAddress.address = 2 "1.2.3.4", port_value = 3: 5
      "12 07 31 2e 32 2e 33 2e 34 18 05 "
      // AttributeContext.request = 4 > Request.http = 2
      "22 25 12 23 "
      // HttpRequest.headers = 3: map entry {key = 1, value = 2}
      "1a 19 0a 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e "
      "12 08 42 65 61 72 65 72 20 74 "
      // HttpRequest.path = 4
      "22 06 2f 61 3f 62 3d 31 "
      // AttributeContext.context_extensions = 10: {key "op", value "x"}
      "52 07 0a 02 6f 70 12 01 78";
  EXPECT_EQ(Hex(request.SerializeAsString()), want);
  // And back: the bytes Envoy sends parse into the same fields.
  auth::CheckRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(parsed.attributes().request().http().headers().at("authorization"),
            "Bearer t");
  EXPECT_EQ(parsed.attributes().source().address().socket_address().address(),
            "1.2.3.4");
}

TEST(ExtAuthzGoldenTest, DeniedResponseFieldNumbers) {
  const auto response = FromText<auth::CheckResponse>(R"pb(
    status { code: 16 message: "m" }
    denied_response {
      status { code: Unauthorized }
      headers {
        header { key: "x-token-reason" value: "UNKNOWN_TOKEN" }
        append_action: OVERWRITE_IF_EXISTS_OR_ADD
      }
      body: "b"
    }
  )pb");
  const std::string want =
      // CheckResponse.status = 1 > google.rpc.Status code = 1: 16, message = 2
      "0a 05 08 10 12 01 6d "
      // CheckResponse.denied_response = 2, 45 bytes
      "12 2d "
      // DeniedHttpResponse.status = 1 > HttpStatus.code = 1: 401
      "0a 03 08 91 03 "
      // DeniedHttpResponse.headers = 2 > HeaderValueOption.header = 1
      "12 23 0a 1f "
      // HeaderValue.key = 1, value = 2
      "0a 0e 78 2d 74 6f 6b 65 6e 2d 72 65 61 73 6f 6e "
      "12 0d 55 4e 4b 4e 4f 57 4e 5f 54 4f 4b 45 4e "
      // HeaderValueOption.append_action = 3: OVERWRITE_IF_EXISTS_OR_ADD (2)
      "18 02 "
      // DeniedHttpResponse.body = 3
      "1a 01 62";
  EXPECT_EQ(Hex(response.SerializeAsString()), want);
}

TEST(ExtAuthzGoldenTest, OkResponseFieldNumbers) {
  const auto response = FromText<auth::CheckResponse>(R"pb(
    status {}
    ok_response {
      headers {
        header { key: "x-token-id" value: "t1" }
        append_action: OVERWRITE_IF_EXISTS_OR_ADD
      }
    }
  )pb");
  const std::string want =
      // CheckResponse.status = 1 (OK: empty)
      "0a 00 "
      // CheckResponse.ok_response = 3 > OkHttpResponse.headers = 2
      "1a 16 12 14 "
      // HeaderValueOption.header = 1 > HeaderValue.key = 1, value = 2
      "0a 10 0a 0a 78 2d 74 6f 6b 65 6e 2d 69 64 12 02 74 31 "
      // HeaderValueOption.append_action = 3
      "18 02";
  EXPECT_EQ(Hex(response.SerializeAsString()), want);
}

}  // namespace
}  // namespace tokens
