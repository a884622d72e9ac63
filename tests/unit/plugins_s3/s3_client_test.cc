// The pure parts of the S3 client (answer classification, content headers, addressing) and its
// multipart bookkeeping against a local server that injects failures (per-part retries, abort).
#include "plugins/common/s3_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "tests/unit/plugins_common/test_http_server.h"

namespace sluice::s3 {
namespace {

using K = S3Outcome::Action;

std::string ErrorBody(const std::string& code) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
         "</Code><Message>msg of " + code + "</Message></Error>";
}

TEST(ClassifyS3ResponseTest, Table) {
  struct Row {
    long status;
    std::string body;
    K kind;
    bool loud;
    std::string code;
  };
  const Row rows[] = {
      {200, "", K::kOk, false, ""},
      {204, "", K::kOk, false, ""},
      {200, ErrorBody("InternalError"), K::kRetry, false, "S3.InternalError"},  // Complete's trap
      {503, ErrorBody("SlowDown"), K::kRetry, false, "S3.SlowDown"},
      {500, ErrorBody("InternalError"), K::kRetry, false, "S3.InternalError"},
      {400, ErrorBody("RequestTimeout"), K::kRetry, false, "S3.RequestTimeout"},
      {400, ErrorBody("BadDigest"), K::kRetry, false, "S3.BadDigest"},
      {403, ErrorBody("AccessDenied"), K::kRetry, true, "S3.AccessDenied"},
      {404, ErrorBody("NoSuchBucket"), K::kRetry, true, "S3.NoSuchBucket"},
      {403, ErrorBody("InvalidAccessKeyId"), K::kRetry, true, "S3.InvalidAccessKeyId"},
      {403, ErrorBody("SignatureDoesNotMatch"), K::kRetry, true, "S3.SignatureDoesNotMatch"},
      {400, ErrorBody("InvalidArgument"), K::kReject, false, "S3.InvalidArgument"},
      {400, ErrorBody("EntityTooLarge"), K::kReject, false, "S3.EntityTooLarge"},
      {400, ErrorBody("InvalidStorageClass"), K::kReject, false, "S3.InvalidStorageClass"},
      {503, ErrorBody("SomethingNew"), K::kRetry, false, "S3.SomethingNew"},
      {403, ErrorBody("SomethingNew"), K::kRetry, true, "S3.SomethingNew"},
      {503, "", K::kRetry, false, "Http.503"},
      {429, "", K::kRetry, false, "Http.429"},
      {408, "", K::kRetry, false, "Http.408"},
      {403, "", K::kRetry, true, "Http.403"},  // HEAD answers have no body
      {404, "", K::kRetry, true, "Http.404"},
      {400, "", K::kReject, false, "Http.400"},
      {413, "", K::kReject, false, "Http.413"},
  };
  for (const Row& r : rows) {
    S3Outcome o = ClassifyS3Response(r.status, r.body, "");
    EXPECT_EQ(o.action, r.kind) << r.status << " " << r.body;
    EXPECT_EQ(o.loud, r.loud) << r.status << " " << r.body;
    EXPECT_EQ(o.error_code, r.code) << r.status << " " << r.body;
  }
  EXPECT_EQ(ClassifyS3Response(503, ErrorBody("SlowDown"), "2").retry_after_ms, 2000u);
  EXPECT_EQ(ClassifyS3Response(403, ErrorBody("AccessDenied"), "").error_message,
            "msg of AccessDenied");
}

TEST(ContentHeadersTest, FromCodec) {
  EXPECT_EQ(ContentHeadersFor("", "text/plain").type, "text/plain");
  EXPECT_EQ(ContentHeadersFor("", "text/plain").encoding, "");
  EXPECT_EQ(ContentHeadersFor("gzip", "application/x-ndjson").type, "application/x-ndjson");
  EXPECT_EQ(ContentHeadersFor("gzip", "").encoding, "gzip");
  EXPECT_EQ(ContentHeadersFor("zip", "text/plain").type, "application/zip");
  EXPECT_EQ(ContentHeadersFor("snappy", "").type, "application/x-snappy-framed");
  EXPECT_EQ(ContentHeadersFor("encrypted", "application/x-ndjson").type,
            "application/octet-stream");
  EXPECT_EQ(ContentHeadersFor("encrypted", "application/x-ndjson").encoding, "");
}

TEST(S3ClientTest, AddressingAndConfigChecks) {
  S3Config c;
  c.bucket = "logs";
  c.credentials = {"AK", "SK", "", ""};
  c.endpoint = "http://127.0.0.1:9000";
  c.force_path_style = true;
  auto client = S3Client::Create(c);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->ObjectUrl("a b/ü+=.gz"), "http://127.0.0.1:9000/logs/a%20b/%C3%BC%2B%3D.gz");
  c.force_path_style = false;
  c.endpoint = "";
  c.region = "eu-west-1";
  client = S3Client::Create(c);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->ObjectUrl("k"), "https://logs.s3.eu-west-1.amazonaws.com/k");
  S3Config bad = c;
  bad.part_size = 1 << 20;
  EXPECT_FALSE(S3Client::Create(bad).ok());
  bad = c;
  bad.kms_key_id = "k";
  EXPECT_FALSE(S3Client::Create(bad).ok());
  bad = c;
  bad.endpoint = "ftp://x";
  EXPECT_FALSE(S3Client::Create(bad).ok());
  bad = c;
  bad.bucket = "a.b";  // virtual-hosted + TLS cannot work with dots
  EXPECT_FALSE(S3Client::Create(bad).ok());
}

// A client of a scripted server on `url`: path style, parts of 5 MiB from 5 MiB on.
S3Config ScriptedServerConfig(const std::string& url) {
  S3Config c;
  c.bucket = "b";
  c.credentials = {"AK", "SK", "", ""};
  c.endpoint = url;
  c.force_path_style = true;
  c.part_size = 5 << 20;
  c.multipart_threshold = 5 << 20;
  return c;
}

// A scripted S3 stand-in for the multipart bookkeeping only (the protocol itself is tested
// against s3rver in tests/integration/s3).
TEST(S3ClientTest, MultipartRetriesAFailedPartThenAbortsWhenItKeepsFailing) {
  std::mutex mu;
  std::vector<std::string> log;
  int part2_failures_left = 1;
  test::TestHttpServer server([&](const test::TestRequest& r) {
    std::lock_guard<std::mutex> l(mu);
    log.push_back(r.method + " " + r.target);
    test::TestResponse resp;
    if (r.method == "POST" && r.target.find("?uploads") != std::string::npos) {
      resp.body =
          "<InitiateMultipartUploadResult><UploadId>U1</UploadId>"
          "</InitiateMultipartUploadResult>";
    } else if (r.method == "PUT" && r.target.find("partNumber=2") != std::string::npos &&
               part2_failures_left != 0) {
      if (part2_failures_left > 0) --part2_failures_left;
      resp.status = 500;
      resp.body = ErrorBody("InternalError");
    } else if (r.method == "PUT") {
      resp.headers["ETag"] = "\"e" + std::to_string(r.body.size()) + "\"";
    }
    return resp;
  });
  S3Config c = ScriptedServerConfig(server.url());
  c.part_backoff_ms = 1;
  auto client = S3Client::Create(c);
  ASSERT_TRUE(client.ok());
  std::string data((11 << 20) + 7, 'x');
  S3Outcome o = (*client)->Put("k", data, {});
  ASSERT_TRUE(o.ok()) << o.error_code << " " << o.error_message;
  std::vector<std::string> want = {"POST /b/k?uploads=",
                                   "PUT /b/k?partNumber=1&uploadId=U1",
                                   "PUT /b/k?partNumber=2&uploadId=U1",
                                   "PUT /b/k?partNumber=2&uploadId=U1",
                                   "PUT /b/k?partNumber=3&uploadId=U1",
                                   "POST /b/k?uploadId=U1"};
  EXPECT_EQ(log, want);

  log.clear();
  part2_failures_left = -1;  // always fails
  o = (*client)->Put("k", data, {});
  EXPECT_EQ(o.action, K::kRetry);
  EXPECT_EQ(o.error_code, "S3.InternalError");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), "DELETE /b/k?uploadId=U1");
  EXPECT_EQ(std::count(log.begin(), log.end(), "PUT /b/k?partNumber=2&uploadId=U1"), 3);
}

TEST(S3ClientTest, AnUploadWhoseAnswerIsLostMayBeStored) {
  // The server reads the PUT and closes the connection without answering: the object may be
  // stored (maybe_done), so the delivery must not spill it at retry_duration. A refused
  // connection, an error answer and a lost part's answer (no object before the completion) say
  // it is not.
  std::atomic<bool> drop{true};
  test::TestHttpServer server([&](const test::TestRequest& r) {
    test::TestResponse resp;
    if (r.method == "POST" && r.target.find("?uploads") != std::string::npos) {
      resp.body =
          "<InitiateMultipartUploadResult><UploadId>U1</UploadId>"
          "</InitiateMultipartUploadResult>";
      return resp;
    }
    if (drop) {
      resp.drop = true;
    } else {
      resp.status = 503;
      resp.body = ErrorBody("ServiceUnavailable");
    }
    return resp;
  });
  S3Config c = ScriptedServerConfig(server.url());
  c.part_attempts = 1;
  auto client = S3Client::Create(c);
  ASSERT_TRUE(client.ok());
  S3Outcome o = (*client)->Put("k", "data", {});
  EXPECT_EQ(o.action, K::kRetry);
  EXPECT_EQ(o.error_code, "S3.Transport");
  EXPECT_TRUE(o.maybe_done) << o.error_message;
  o = (*client)->Put("k", std::string((5 << 20) + 1, 'x'), {});  // a part's answer lost
  EXPECT_EQ(o.action, K::kRetry);
  EXPECT_FALSE(o.maybe_done) << o.error_message;
  drop = false;
  o = (*client)->Put("k", "data", {});
  EXPECT_EQ(o.action, K::kRetry);
  EXPECT_FALSE(o.maybe_done) << o.error_code;

  int closed_port = 0;
  {
    test::TestHttpServer gone([](const test::TestRequest&) { return test::TestResponse{}; });
    closed_port = gone.port();
  }
  c.endpoint = "http://127.0.0.1:" + std::to_string(closed_port);
  auto refused = S3Client::Create(c);
  ASSERT_TRUE(refused.ok());
  o = (*refused)->Put("k", "data", {});
  EXPECT_EQ(o.action, K::kRetry);
  EXPECT_FALSE(o.maybe_done) << o.error_message;
}

}  // namespace
}  // namespace sluice::s3
