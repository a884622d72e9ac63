// SigV4 verification against vectors from AWS's published Signature Version 4 test suite
// (credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service
// "service", time 20150830T123600Z).
#include "broker/api/sigv4.h"

#include <gtest/gtest.h>

namespace sluice::broker::api {
namespace {

constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kScope[] = "20150830/us-east-1/service/aws4_request";
constexpr int64_t kVectorTimeMs = 1440938160000;  // 2015-08-30T12:36:00Z

std::string Sign(std::string_view method, std::string_view target, const http::Headers& headers,
                 std::string_view signed_headers, std::string_view body) {
  std::string creq = CanonicalRequest(method, target, headers, signed_headers, Sha256Hex(body));
  std::string sts =
      "AWS4-HMAC-SHA256\n20150830T123600Z\n" + std::string(kScope) + "\n" + Sha256Hex(creq);
  return SignatureHex(kSecret, "20150830", "us-east-1", "service", sts);
}

const http::Headers kVanilla = {{"host", "example.amazonaws.com"},
                                {"x-amz-date", "20150830T123600Z"}};

TEST(SigV4Test, GetVanillaCanonicalRequestAndSignature) {
  EXPECT_EQ(CanonicalRequest("GET", "/", kVanilla, "host;x-amz-date", Sha256Hex("")),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sign("GET", "/", kVanilla, "host;x-amz-date", ""),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, GetVanillaQueryOrderKeyCase) {
  EXPECT_EQ(Sign("GET", "/?Param2=value2&Param1=value1", kVanilla, "host;x-amz-date", ""),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, GetUtf8Path) {
  // The request line carries the raw UTF-8 path; the canonical URI percent-encodes it.
  EXPECT_EQ(Sign("GET", "/\xe1\x88\xb4", kVanilla, "host;x-amz-date", ""),
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

TEST(SigV4Test, PostFormWithSignedPayloadHash) {
  std::string body = "Param1=value1";
  EXPECT_EQ(Sha256Hex(body), "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  http::Headers h = {{"x-amz-date", "20150830T123600Z"},
                     {"content-type", "application/x-www-form-urlencoded"},
                     {"host", "example.amazonaws.com"},
                     {"content-length", "13"},
                     {"x-amz-content-sha256", Sha256Hex(body)}};
  EXPECT_EQ(Sign("POST", "/", h, "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                 body),
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b");
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndJoined) {
  http::Headers h = {{"x-b", "  a   b \t c  "}, {"x-a", "1"}, {"x-b", "2"}};
  std::string c = CanonicalRequest("GET", "/", h, "x-a;x-b", "UNSIGNED-PAYLOAD");
  EXPECT_NE(c.find("x-a:1\nx-b:a b c,2\n"), std::string::npos) << c;
}

class SigV4VerifierTest : public ::testing::Test {
 protected:
  SigV4VerifierTest()
      : clock_(kVectorTimeMs),
        verifier_({{"AKIDEXAMPLE", kSecret, ""}}, "service", &clock_, 15 * 60 * 1000) {}

  http::HttpRequest Vanilla() {
    http::HttpRequest r;
    r.method = std::string("GET");
    r.target.assign(1, '/');
    r.headers = kVanilla;
    r.headers.emplace_back(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    return r;
  }

  FakeClock clock_;
  SigV4Verifier verifier_;
};

TEST_F(SigV4VerifierTest, AcceptsThePublishedRequest) {
  std::optional<AuthFailure> f = verifier_.Verify(Vanilla());
  EXPECT_FALSE(f.has_value()) << f->type << ": " << f->message;
}

TEST_F(SigV4VerifierTest, TamperedRequestIsInvalidSignature) {
  http::HttpRequest r = Vanilla();
  r.target = std::string("/other");
  ASSERT_TRUE(verifier_.Verify(r).has_value());
  EXPECT_EQ(verifier_.Verify(r)->type, "InvalidSignatureException");
  r = Vanilla();
  r.body.assign(1, 'x');  // the payload hash is part of the signature
  EXPECT_EQ(verifier_.Verify(r)->type, "InvalidSignatureException");
}

TEST_F(SigV4VerifierTest, UnknownKeyIsUnrecognizedClient) {
  SigV4Verifier other({{"AKIDOTHER", kSecret, ""}}, "service", &clock_, 15 * 60 * 1000);
  EXPECT_EQ(other.Verify(Vanilla())->type, "UnrecognizedClientException");
}

TEST_F(SigV4VerifierTest, WrongSecretIsInvalidSignature) {
  SigV4Verifier other({{"AKIDEXAMPLE", "not-the-secret", ""}}, "service", &clock_, 15 * 60 * 1000);
  EXPECT_EQ(other.Verify(Vanilla())->type, "InvalidSignatureException");
}

TEST_F(SigV4VerifierTest, MissingAndIncompleteAuthorization) {
  http::HttpRequest r = Vanilla();
  r.headers.pop_back();
  EXPECT_EQ(verifier_.Verify(r)->type, "MissingAuthenticationTokenException");
  r.headers.emplace_back("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/x");
  std::optional<AuthFailure> f = verifier_.Verify(r);
  EXPECT_EQ(f->type, "IncompleteSignatureException");
  EXPECT_NE(f->message.find("'Signature'"), std::string::npos);
  r.headers.back().second = "Basic abc";
  EXPECT_EQ(verifier_.Verify(r)->type, "IncompleteSignatureException");
}

TEST_F(SigV4VerifierTest, StaleSignatureIsRefused) {
  clock_.Advance(16 * 60 * 1000);
  std::optional<AuthFailure> f = verifier_.Verify(Vanilla());
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, "InvalidSignatureException");
  EXPECT_NE(f->message.find("Signature expired"), std::string::npos);
}

TEST_F(SigV4VerifierTest, WrongServiceScopeIsRefused) {
  SigV4Verifier kinesis({{"AKIDEXAMPLE", kSecret, ""}}, "kinesis", &clock_, 15 * 60 * 1000);
  EXPECT_EQ(kinesis.Verify(Vanilla())->type, "InvalidSignatureException");
}

// Temporary credentials: the request must carry the credential's session token, signed.
TEST(SigV4SessionTokenTest, TemporaryCredentialsNeedTheirSignedToken) {
  FakeClock clock(kVectorTimeMs);
  SigV4Verifier v({{"AKIDEXAMPLE", kSecret, "FQoGZXIvYXdzEXAMPLETOKEN"}, {"AKIDLONG", kSecret, ""}},
                  "service", &clock, 15 * 60 * 1000);
  auto request = [](std::string_view key, const char* token, bool sign_token) {
    http::HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.body = "{}";
    r.headers = kVanilla;
    if (token != nullptr) r.headers.emplace_back("x-amz-security-token", token);
    std::string signed_headers =
        token != nullptr && sign_token ? "host;x-amz-date;x-amz-security-token" : "host;x-amz-date";
    std::string sig = Sign("POST", "/", r.headers, signed_headers, r.body);
    r.headers.emplace_back("authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(key) +
                                                "/" + kScope + ", SignedHeaders=" + signed_headers +
                                                ", Signature=" + sig);
    return r;
  };
  size_t which = 99;
  EXPECT_FALSE(v.Verify(request("AKIDEXAMPLE", "FQoGZXIvYXdzEXAMPLETOKEN", true), &which));
  EXPECT_EQ(which, 0u);
  auto no_token = v.Verify(request("AKIDEXAMPLE", nullptr, true));
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->type, "UnrecognizedClientException");
  auto wrong = v.Verify(request("AKIDEXAMPLE", "FQoGZXIvYXdzEXAMPLETOKEX", true));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->type, "UnrecognizedClientException");
  auto unsigned_token = v.Verify(request("AKIDEXAMPLE", "FQoGZXIvYXdzEXAMPLETOKEN", false));
  ASSERT_TRUE(unsigned_token);
  EXPECT_EQ(unsigned_token->type, "IncompleteSignatureException");
  // A long-term key takes no token.
  EXPECT_FALSE(v.Verify(request("AKIDLONG", nullptr, true), &which));
  EXPECT_EQ(which, 1u);
  auto extra = v.Verify(request("AKIDLONG", "FQoGZXIvYXdzEXAMPLETOKEN", true));
  ASSERT_TRUE(extra);
  EXPECT_EQ(extra->type, "UnrecognizedClientException");
}

// Presigned: the signature in the query string, valid for X-Amz-Expires seconds.
TEST(SigV4PresignedTest, QueryStringSignatureValidUntilItExpires) {
  FakeClock clock(kVectorTimeMs);
  SigV4Verifier v({{"AKIDEXAMPLE", kSecret, ""}}, "service", &clock, 15 * 60 * 1000);
  const std::string query =
      "/?Action=ListStreams&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%"
      "2F20150830%"
      "2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&"
      "X-Amz-SignedHeaders=host";
  http::HttpRequest r;
  r.method = "POST";
  r.body = "{}";
  r.headers = {{"host", "example.amazonaws.com"}};
  std::string sig = Sign("POST", query, r.headers, "host", r.body);
  r.target = query + "&X-Amz-Signature=" + sig;
  size_t which = 9;
  auto ok = v.Verify(r, &which);
  EXPECT_FALSE(ok) << ok->type << ": " << ok->message;
  EXPECT_EQ(which, 0u);

  http::HttpRequest tampered = r;
  tampered.target.replace(tampered.target.find("ListStreams"), 11, "DeleteStrea");
  auto bad = v.Verify(tampered);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->type, "InvalidSignatureException");

  clock.Advance(61 * 1000);
  auto expired = v.Verify(r);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->type, "InvalidSignatureException");
  EXPECT_NE(expired->message.find("presigned at 20150830T123600Z for 60 seconds"),
            std::string::npos);

  http::HttpRequest incomplete = r;
  incomplete.target = "/?X-Amz-Signature=" + sig;
  auto missing = v.Verify(incomplete);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->type, "IncompleteSignatureException");
  EXPECT_NE(missing->message.find("'X-Amz-Credential'"), std::string::npos);
}

}  // namespace
}  // namespace sluice::broker::api
