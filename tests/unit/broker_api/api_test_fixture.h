// The fixture of the API tests: a real broker in a temporary directory, one API (KinesisApi or
// FirehoseApi) over it, and Call() through its transport-free Handle().
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "broker/api/kinesis_api.h"

namespace sluice::broker::api {

template <class Api>
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_api_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    api_.reset();
    broker_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Options of the broker about to be opened.
  virtual void ConfigureBroker(BrokerOptions& /*options*/) {}
  // Options of the API about to be created; the broker is open.
  virtual void Configure(ApiOptions& /*options*/) {}

  void Open() {
    BrokerOptions bo;
    bo.data_dir = dir_;
    bo.clock = &clock_;
    ConfigureBroker(bo);
    auto b = Broker::Open(bo);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(*b);
    ApiOptions ao;
    ao.data_dir = dir_;
    ao.clock = &clock_;
    Configure(ao);
    auto a = Api::Create(broker_.get(), ao);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    api_ = std::move(*a);
  }
  // A restart: broker and API closed and opened again on the same directory.
  void Reopen() {
    api_.reset();
    broker_.reset();
    Open();
  }

  // Calls `op` with `body`; returns the parsed answer and sets status_, type_ and raw_.
  rapidjson::Document Call(std::string_view op, std::string body) {
    ApiReply reply;
    api_->Handle(op, body, &reply);
    status_ = reply.status;
    type_ = reply.error_type;
    raw_ = reply.body;
    raw_.reserve(raw_.size() + 16);  // RapidJSON's SSE4.2 scanner reads past the end
    rapidjson::Document d;
    d.Parse(raw_.c_str());
    EXPECT_FALSE(d.HasParseError()) << raw_.substr(0, 300);
    return d;
  }
  static std::string Message(const rapidjson::Document& d) {
    return d.IsObject() && d.HasMember("message") ? d["message"].GetString() : "";
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Api> api_;
  int status_ = 0;
  std::string type_;
  std::string raw_;
};

}  // namespace sluice::broker::api
