// core/base64.h against OpenSSL's block codec (what it used before) on records of 200 bytes, as
// the kinesis sink encodes them into PutRecords and the Kinesis API decodes them. Prints MB/s
// of record bytes.
//
//   build/release/tests/bench/core/core_bench --benchmark_filter=Base64
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <random>
#include <string>

#include "core/base64.h"

namespace {

constexpr size_t kRecord = 200;
constexpr size_t kRecords = 500;  // one PutRecords call

std::string Records() {
  std::mt19937 rng(1);
  std::string data(kRecord * kRecords, '\0');
  for (char& c : data) c = static_cast<char>(' ' + rng() % 90);
  return data;
}

template <bool kOpenSsl>
void BM_Base64Encode(benchmark::State& state) {
  std::string data = Records();
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (size_t i = 0; i < kRecords; ++i) {
      std::string_view r(data.data() + i * kRecord, kRecord);
      if constexpr (kOpenSsl) {
        size_t old = out.size();
        out.resize(old + sluice::Base64EncodedSize(kRecord) + 1);
        int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + old),
                                reinterpret_cast<const unsigned char*>(r.data()), kRecord);
        out.resize(old + static_cast<size_t>(n));
      } else {
        sluice::Base64Append(r, &out);
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK_TEMPLATE(BM_Base64Encode, false)->Name("BM_Base64Encode/tables");
BENCHMARK_TEMPLATE(BM_Base64Encode, true)->Name("BM_Base64Encode/openssl");

void BM_Base64Decode(benchmark::State& state) {
  std::string data = Records();
  std::string encoded = sluice::Base64Encode(std::string_view(data.data(), kRecord));
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (size_t i = 0; i < kRecords; ++i) {
      benchmark::DoNotOptimize(sluice::Base64DecodeAppend(encoded, &out).ok());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRecords * kRecord));
}
BENCHMARK(BM_Base64Decode)->Name("BM_Base64Decode/tables");

}  // namespace
