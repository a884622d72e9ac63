#include "plugins/common/xml_text.h"

#include <gtest/gtest.h>

namespace sluice::sink {
namespace {

TEST(XmlTextTest, ExtractsS3ErrorFields) {
  std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
      "<Message>The specified bucket does not exist &amp; &lt;x&gt; &#233;&#x4e2d;</Message>"
      "<BucketName>b</BucketName><RequestId>1</RequestId></Error>";
  EXPECT_EQ(XmlText(body, "Code"), "NoSuchBucket");
  EXPECT_EQ(XmlText(body, "Message"),
            "The specified bucket does not exist & <x> \xC3\xA9\xE4\xB8\xAD");
  EXPECT_EQ(XmlText(body, "UploadId"), "");
  EXPECT_EQ(XmlText("<CodeX>1</CodeX><Code>2</Code>", "Code"), "2");
  EXPECT_EQ(XmlText("<UploadId/>", "UploadId"), "");
  EXPECT_EQ(XmlText("<R xmlns=\"x\"><UploadId>u-1</UploadId></R>", "UploadId"), "u-1");
}

TEST(XmlTextTest, Escape) { EXPECT_EQ(XmlEscape("a&<>\"'b"), "a&amp;&lt;&gt;&quot;&apos;b"); }

}  // namespace
}  // namespace sluice::sink
