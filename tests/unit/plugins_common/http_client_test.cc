// HttpClient against a local server: bodies both ways, headers, keep-alive across requests,
// timeouts and refused connections reported as retryable errors.
#include "plugins/common/http_client.h"

#include <gtest/gtest.h>

#include "tests/unit/plugins_common/test_http_server.h"

namespace sluice::sink {
namespace {

using test::TestHttpServer;
using test::TestRequest;
using test::TestResponse;

TEST(HttpClientTest, SendsBodyAndHeadersAndKeepsTheConnection) {
  std::vector<TestRequest> seen;
  TestHttpServer server([&](const TestRequest& r) {
    seen.push_back(r);
    TestResponse resp;
    resp.status = r.method == "PUT" ? 201 : 200;
    resp.body = "echo:" + r.body;
    resp.headers["ETag"] = "\"abc\"";
    return resp;
  });
  auto client = HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  std::string body(300000, 'x');
  body[7] = '\0';
  HttpRequest req;
  req.method = "PUT";
  req.url = server.url() + "/k%20y?a=1";
  req.headers = {{"X-Test", "1"}, {"Content-MD5", "abc"}};
  req.body = body;
  Result<HttpResponse> r = (*client)->Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "echo:" + body);
  EXPECT_EQ(r->Header("etag"), "\"abc\"");
  HttpRequest get;
  get.url = server.url() + "/x";
  for (int i = 0; i < 3; ++i) {
    r = (*client)->Send(get);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
  }
  HttpRequest post;
  post.method = "POST";
  post.url = server.url() + "/p";
  r = (*client)->Send(post);  // a POST without a body still sends Content-Length: 0
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].target, "/k%20y?a=1");
  EXPECT_EQ(seen[0].headers["x-test"], "1");
  EXPECT_EQ(seen[0].headers.count("expect"), 0u);
  EXPECT_EQ(seen[0].headers.count("content-type"), 0u);
  EXPECT_EQ(seen[0].body, body);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[4].method, "POST");
  EXPECT_EQ(seen[4].headers["content-length"], "0");
  EXPECT_EQ(server.connections(), 1);  // one connection for every request
}

TEST(HttpClientTest, TimeoutsAndRefusedConnectionsAreRetryable) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.delay_ms = 600;
    return r;
  });
  HttpOptions o;
  o.timeout_ms = 150;
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  HttpRequest req;
  req.url = server.url() + "/slow";
  Result<HttpResponse> r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("imeout"), std::string::npos) << r.status().message();

  int port;
  {
    TestHttpServer gone([](const TestRequest&) { return TestResponse{}; });
    port = gone.port();
  }
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);

  req.url = "nope://x";
  r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(HttpClientTest, DroppedConnectionIsRetryable) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.drop = true;
    return r;
  });
  auto client = HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  HttpRequest req;
  req.url = server.url() + "/";
  Result<HttpResponse> r = (*client)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(HttpClientTest, TlsVerificationIsOnByDefault) {
  // A plain-HTTP server spoken to over https fails the handshake: an error, never a silent
  // downgrade; the CA file option is passed through (a missing file is an error too).
  TestHttpServer server([](const TestRequest&) { return TestResponse{}; });
  HttpOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  HttpRequest req;
  req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  Result<HttpResponse> r = (*client)->Send(req);
  EXPECT_FALSE(r.ok());
}

TEST(HttpClientTest, RetryAfterSeconds) {
  EXPECT_EQ(RetryAfterMs("3"), 3000u);
  EXPECT_EQ(RetryAfterMs(""), 0u);
  EXPECT_EQ(RetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT"), 0u);
  EXPECT_EQ(RetryAfterMs("999999"), 3600000u);
}

}  // namespace
}  // namespace sluice::sink
