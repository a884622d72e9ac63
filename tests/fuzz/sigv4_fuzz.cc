// Fuzz target: SigV4 verification of incoming requests (broker/api/sigv4.h): the Authorization
// header's Credential / SignedHeaders / Signature parts, X-Amz-Date, the canonical request over
// arbitrary header names and values, and the payload hash. The input is an HTTP request head:
//   METHOD TARGET\n(name: value\n)*\nBODY
// A request signed with a key the verifier does not know must never be accepted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "broker/api/sigv4.h"
#include "core/clock.h"
#include "core/http/http_server.h"

namespace api = sluice::broker::api;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sluice::FakeClock clock(1'700'000'000'000);  // 2023-11-14T22:13:20Z
  static api::SigV4Verifier verifier(
      {{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""}}, "kinesis", &clock,
      15 * 60 * 1000);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  sluice::http::HttpRequest req;
  size_t eol = in.find('\n');
  std::string_view first = in.substr(0, eol);
  size_t sp = first.find(' ');
  req.method = std::string(first.substr(0, sp));
  req.target = sp == std::string_view::npos ? "/" : std::string(first.substr(sp + 1));
  in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
  while (!in.empty()) {
    eol = in.find('\n');
    std::string_view line = in.substr(0, eol);
    in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& ch : name) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.emplace_back(std::move(name), std::string(value));
  }
  req.body = std::string(in);
  auto failure = verifier.Verify(req);
  const std::string* auth = req.Header("authorization");
  if (!failure && (auth == nullptr || auth->find("AKIDEXAMPLE/") == std::string::npos)) {
    std::abort();  // accepted without a signature by the one known key
  }
  // The building blocks on their own, with a signed-headers list taken from the input.
  std::string signed_headers;
  for (const auto& [name, value] : req.headers) {
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  std::string canonical = api::CanonicalRequest(req.method, req.target, req.headers, signed_headers,
                                                api::Sha256Hex(req.body));
  (void)api::SignatureHex("secret", "20231114", "us-east-1", "kinesis", canonical);
  return 0;
}
