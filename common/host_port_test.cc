#include "common/host_port.h"

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(HostPortTest, ParsesHostsAndPorts) {
  auto a = ParseHostPort("127.0.0.1:9091");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9091);
  auto b = ParseHostPort("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  EXPECT_EQ(ParseHostPort("localhost:50051")->host, "localhost");
}

TEST(HostPortTest, RejectsBadAddresses) {
  for (const char* bad :
       {"", "9091", ":9091", "host:", "host:x", "host:70000", "host:-1"}) {
    EXPECT_EQ(ParseHostPort(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(HostPortTest, FormatsIpv6WithBrackets) {
  EXPECT_EQ(FormatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  EXPECT_EQ(FormatHostPort("::1", 80), "[::1]:80");
}

}  // namespace
}  // namespace tokens
