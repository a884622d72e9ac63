#include "broker/api/event_stream.h"

#include <gtest/gtest.h>

namespace sluice::broker::api {
namespace {

TEST(EventStreamTest, EmptyMessageMatchesTheAwsVector) {
  // "empty_message" from AWS's event-stream encoding test vectors.
  std::string out;
  AppendEventStreamMessage({}, &out);
  const unsigned char expected[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
                                    0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff};
  EXPECT_EQ(out, std::string(reinterpret_cast<const char*>(expected), sizeof(expected)));
}

TEST(EventStreamTest, RoundTripsAndDetectsCorruption) {
  EventStreamMessage m;
  m.headers = {{":event-type", "SubscribeToShardEvent"},
               {":content-type", "application/json"},
               {":message-type", "event"}};
  m.payload = R"({"Records":[]})";
  std::string out;
  AppendEventStreamMessage(m, &out);
  AppendEventStreamMessage({}, &out);  // a second message right behind
  size_t used = 0;
  Result<EventStreamMessage> back = DecodeEventStreamMessage(out, &used);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->headers, m.headers);
  EXPECT_EQ(back->payload, m.payload);
  EXPECT_EQ(used, out.size() - 16);
  EXPECT_TRUE(DecodeEventStreamMessage(std::string_view(out).substr(used), &used).ok());
  std::string bad = out;
  bad[20] ^= 1;
  EXPECT_FALSE(DecodeEventStreamMessage(bad, &used).ok());
  EXPECT_FALSE(DecodeEventStreamMessage(std::string_view(out).substr(0, 30), &used).ok());
}

}  // namespace
}  // namespace sluice::broker::api
