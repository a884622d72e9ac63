#include "core/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace sluice {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndErrorCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFound("stream x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: stream x");
  EXPECT_EQ(s.Annotate("open").message(), "open: stream x");
}

TEST(StatusTest, ResultMacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(StatusTest, ErrnoMapsToCodes) {
  EXPECT_EQ(ErrnoError("open a", ENOENT).code(), Code::kNotFound);
  EXPECT_EQ(ErrnoError("write b", ENOSPC).code(), Code::kResourceExhausted);
  EXPECT_EQ(ErrnoError("read c", EIO).code(), Code::kIoError);
  EXPECT_NE(ErrnoError("open a", ENOENT).message().find("open a: "), std::string::npos);
}

}  // namespace
}  // namespace sluice
