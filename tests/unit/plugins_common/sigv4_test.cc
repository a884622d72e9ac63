// SigV4 against the examples AWS publishes: the S3 API reference's header-signing examples
// (GET object, PUT object, GET bucket lifecycle, list objects) and cases of the general SigV4
// test suite (get-vanilla, get-vanilla-query-order-key-case, post-vanilla). A wrong byte in the
// canonical request changes the signature, so these pin the whole algorithm.
#include "plugins/common/sigv4.h"

#include <gtest/gtest.h>

namespace sluice::sink {
namespace {

constexpr char kS3Key[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kS3Secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::time_t k20130524 = 1369353600;  // 2013-05-24T00:00:00Z
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string SignatureOf(const std::string& auth) { return auth.substr(auth.rfind('=') + 1); }

TEST(SigV4Test, S3GetObjectExample) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/test.txt";
  r.payload_hash = kEmptySha;
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
  std::string auth = Sign(&r, {kS3Key, kS3Secret, "", 0}, {"us-east-1", "s3", k20130524});
  EXPECT_EQ(auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // The intermediate values of the same example.
  SigV4Request c = r;
  c.headers.pop_back();  // Authorization is not part of the canonical request
  EXPECT_EQ(
      CanonicalRequest(c, true),
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(CanonicalRequest(c, true)),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
}

TEST(SigV4Test, S3PutObjectExample) {
  std::string body = "Welcome to Amazon S3.";
  EXPECT_EQ(Sha256Hex(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigV4Request r;
  r.method = "PUT";
  r.path = "/" + UriEncode("test$file.text", true);
  EXPECT_EQ(r.path, "/test%24file.text");
  r.payload_hash = Sha256Hex(body);
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  std::string auth = Sign(&r, {kS3Key, kS3Secret, "", 0}, {"us-east-1", "s3", k20130524});
  EXPECT_EQ(auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, S3GetBucketLifecycleExample) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/";
  r.query = {{"lifecycle", ""}};
  r.payload_hash = kEmptySha;
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  std::string auth = Sign(&r, {kS3Key, kS3Secret, "", 0}, {"us-east-1", "s3", k20130524});
  EXPECT_EQ(SignatureOf(auth), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, S3ListObjectsExample) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/";
  r.query = {{"prefix", "J"}, {"max-keys", "2"}};  // sorted by the signer
  r.payload_hash = kEmptySha;
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  std::string auth = Sign(&r, {kS3Key, kS3Secret, "", 0}, {"us-east-1", "s3", k20130524});
  EXPECT_EQ(SignatureOf(auth), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// The general test suite: credentials AKIDEXAMPLE, service "service", 2015-08-30T12:36:00Z.
constexpr char kSuiteKey[] = "AKIDEXAMPLE";
constexpr char kSuiteSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::time_t k20150830 = 1440938160;

std::string SuiteSign(std::string_view method,
                      std::vector<std::pair<std::string, std::string>> query) {
  SigV4Request r;
  r.method = method;
  r.path = "/";
  r.query = std::move(query);
  r.payload_hash = kEmptySha;
  r.headers = {{"Host", "example.amazonaws.com"}};
  return Sign(&r, {kSuiteKey, kSuiteSecret, "", 0}, {"us-east-1", "service", k20150830});
}

TEST(SigV4Test, SuiteGetVanilla) {
  std::string auth = SuiteSign("GET", {});
  EXPECT_EQ(auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, SuiteGetVanillaQueryOrderKeyCase) {
  EXPECT_EQ(SignatureOf(SuiteSign("GET", {{"Param2", "value2"}, {"Param1", "value1"}})),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, SuitePostVanilla) {
  EXPECT_EQ(SignatureOf(SuiteSign("POST", {})),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4Test, SigningKeyOfTheDocumentedExample) {
  std::string k = SigningKey(kSuiteSecret, "20120215", "us-east-1", "iam");
  std::string hex;
  for (unsigned char c : k) {
    hex.push_back("0123456789abcdef"[c >> 4]);
    hex.push_back("0123456789abcdef"[c & 15]);
  }
  EXPECT_EQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigV4Test, KeysAreEncodedOnceForS3AndTwiceForOtherServices) {
  EXPECT_EQ(UriEncode("a b/ü+=.txt", true), "a%20b/%C3%BC%2B%3D.txt");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("~-._*", true), "~-._%2A");
  SigV4Request r;
  r.method = "GET";
  r.path = "/a%20b";
  r.payload_hash = kEmptySha;
  EXPECT_EQ(CanonicalRequest(r, true).substr(0, 11), "GET\n/a%20b\n");
  EXPECT_EQ(CanonicalRequest(r, false).substr(0, 13), "GET\n/a%2520b\n");
}

TEST(SigV4Test, HeadersSharingAPrefixSortByNameAndValuesAreFolded) {
  SigV4Request r;
  r.method = "PUT";
  r.path = "/k";
  r.payload_hash = kEmptySha;
  r.headers = {{"x-amz-server-side-encryption-aws-kms-key-id", "key-1"},
               {"X-Amz-Server-Side-Encryption", "aws:kms"},
               {"Host", "b.s3.amazonaws.com"},
               {"X-Amz-Meta-A", "  one   two  "},
               {"x-amz-meta-a", "three"}};
  std::string auth = Sign(&r, {kS3Key, kS3Secret, "token/+=", 0}, {"eu-west-1", "s3", k20130524});
  EXPECT_NE(auth.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;"
                      "x-amz-security-token;x-amz-server-side-encryption;"
                      "x-amz-server-side-encryption-aws-kms-key-id,"),
            std::string::npos)
      << auth;
  SigV4Request c = r;
  c.headers.pop_back();
  std::string canon = CanonicalRequest(c, true);
  EXPECT_NE(canon.find("\nx-amz-meta-a:one two,three\n"), std::string::npos) << canon;
  EXPECT_NE(canon.find("\nx-amz-security-token:token/+=\n"), std::string::npos) << canon;
  // x-amz-content-sha256 is always sent to S3, and exactly once.
  int sha = 0;
  for (const auto& kv : r.headers) sha += kv.first == "x-amz-content-sha256";
  EXPECT_EQ(sha, 1);
}

TEST(SigV4Test, ContentMd5AndDate) {
  EXPECT_EQ(Md5Base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(Md5Base64("The quick brown fox jumps over the lazy dog"), "nhB9nTcrtoJr2B01QqQZ1g==");
  EXPECT_EQ(AmzDate(k20150830), "20150830T123600Z");
}

}  // namespace
}  // namespace sluice::sink
