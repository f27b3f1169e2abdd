#include "verifier/trusted_proxies.h"

#include "gtest/gtest.h"

namespace tokens {
namespace {

TrustedProxies Parse(std::string_view cidrs) {
  auto proxies = TrustedProxies::Parse(cidrs);
  EXPECT_TRUE(proxies.ok()) << proxies.status();
  return proxies.ok() ? *proxies : TrustedProxies();
}

TEST(TrustedProxiesTest, DefaultTrustsLoopbackOnly) {
  TrustedProxies proxies = Parse(kDefaultTrustedProxies);
  EXPECT_TRUE(proxies.Contains("127.0.0.1"));
  EXPECT_TRUE(proxies.Contains("127.0.0.3"));
  EXPECT_TRUE(proxies.Contains("::1"));
  EXPECT_TRUE(proxies.Contains("::ffff:127.0.0.1"));
  EXPECT_FALSE(proxies.Contains("10.0.0.1"));
  EXPECT_FALSE(proxies.Contains("::2"));
  EXPECT_FALSE(proxies.Contains("not-an-address"));
  EXPECT_FALSE(proxies.Contains(""));
}

TEST(TrustedProxiesTest, PrefixLengthsAreHonoured) {
  TrustedProxies proxies = Parse("10.1.0.0/16, 192.168.1.7, fd00::/8");
  EXPECT_TRUE(proxies.Contains("10.1.255.3"));
  EXPECT_FALSE(proxies.Contains("10.2.0.1"));
  EXPECT_TRUE(proxies.Contains("192.168.1.7"));
  EXPECT_FALSE(proxies.Contains("192.168.1.8"));
  EXPECT_TRUE(proxies.Contains("fd12::1"));
  EXPECT_FALSE(proxies.Contains("fe80::1"));
  // An IPv6 range never matches an IPv4 address and the other way round.
  EXPECT_FALSE(Parse("::/0").Contains("10.0.0.1"));
  EXPECT_TRUE(Parse("0.0.0.0/0").Contains("10.0.0.1"));
  EXPECT_FALSE(Parse("0.0.0.0/0").Contains("fd00::1"));
}

TEST(TrustedProxiesTest, EmptyListTrustsNobody) {
  TrustedProxies proxies = Parse("");
  EXPECT_FALSE(proxies.Contains("127.0.0.1"));
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "10.0.0.9"), "127.0.0.1");
}

TEST(TrustedProxiesTest, BadEntriesNameTheFlag) {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0/8", "nginx",
                          "10.0.0.0/", "10.0.0.0/x"}) {
    auto proxies = TrustedProxies::Parse(bad);
    ASSERT_FALSE(proxies.ok()) << bad;
    EXPECT_EQ(proxies.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(proxies.status().message().find("--trusted-proxies"),
              std::string::npos);
  }
}

TEST(TrustedProxiesTest, UntrustedPeerIsTheEndClient) {
  TrustedProxies proxies = Parse(kDefaultTrustedProxies);
  // What an untrusted peer claims is ignored.
  EXPECT_EQ(proxies.EndClient("10.0.0.5", "1.2.3.4"), "10.0.0.5");
}

TEST(TrustedProxiesTest, TrustedPeerNamesTheRightmostUntrustedAddress) {
  TrustedProxies proxies = Parse("127.0.0.0/8,10.0.0.0/8");
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "203.0.113.9"), "203.0.113.9");
  // A client can put anything on the left; the hops on the right are ours.
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "1.1.1.1, 203.0.113.9, 10.0.0.2"),
            "203.0.113.9");
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "[2001:db8::1]:4711"),
            "2001:db8::1");
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "198.51.100.7:5000"),
            "198.51.100.7");
}

TEST(TrustedProxiesTest, TrustedPeerThatNamesNoOneHasNoEndClient) {
  TrustedProxies proxies = Parse(kDefaultTrustedProxies);
  EXPECT_EQ(proxies.EndClient("127.0.0.1", ""), "");
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "127.0.0.2"), "");
  EXPECT_EQ(proxies.EndClient("127.0.0.1", "unknown"), "");
}

TEST(ForwardedAddressTest, StripsPortsBracketsAndQuotes) {
  EXPECT_EQ(ForwardedAddress(" 10.0.0.1 "), "10.0.0.1");
  EXPECT_EQ(ForwardedAddress("10.0.0.1:80"), "10.0.0.1");
  EXPECT_EQ(ForwardedAddress("\"[::1]:80\""), "::1");
  EXPECT_EQ(ForwardedAddress("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(ForwardedAddress("_hidden"), "");
}

}  // namespace
}  // namespace tokens
