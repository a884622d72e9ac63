#include "buffer/exec_transform.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_map>

#include "core/base64.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

namespace sluice::buffer {
namespace {}  // namespace

Result<std::unique_ptr<ExecTransform>> ExecTransform::Create(std::vector<std::string> argv,
                                                             std::string delivery,
                                                             std::chrono::milliseconds timeout,
                                                             int retries, size_t max_event_bytes) {
  if (argv.empty()) return InvalidArgument("transform.exec needs a command");
  std::unique_ptr<ExecTransform> t(new ExecTransform());
  t->argv_ = std::move(argv);
  t->delivery_ = std::move(delivery);
  t->timeout_ = timeout;
  t->retries_ = retries;
  t->max_event_bytes_ = std::max<size_t>(1, max_event_bytes);
  RETURN_IF_ERROR(t->Spawn());
  return t;
}

ExecTransform::~ExecTransform() { Kill(); }

Status ExecTransform::Spawn() {
  int to_child[2], from_child[2], err_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    return ErrnoError("pipe", errno);
  }
  if (::pipe2(err_child, O_CLOEXEC) != 0) {
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    return ErrnoError("pipe", errno);
  }
  ::fcntl(err_child[0], F_SETFL, O_NONBLOCK);
  std::vector<char*> args;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork", errno);
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::dup2(err_child[1], 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::close(err_child[1]);
  pid_ = pid;
  in_fd_ = to_child[1];
  out_fd_ = from_child[0];
  err_fd_ = err_child[0];
  pending_.clear();
  err_pending_.clear();
  return Status::Ok();
}

void ExecTransform::DrainStderr() {
  if (err_fd_ < 0) return;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    err_pending_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = err_pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(err_pending_.data() + start, nl - start);
      if (err_lines_ < kMaxStderrLines) {
        ++err_lines_;
        SLUICE_LOG(Warn, "transform stderr").With("delivery", delivery_).With("line", line);
      } else {
        ++err_dropped_;
      }
    }
    err_pending_.erase(0, start);
    if (err_pending_.size() > 4096) err_pending_.clear();  // a line without end: not kept
  }
}

void ExecTransform::Kill() {
  DrainStderr();
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
  in_fd_ = out_fd_ = err_fd_ = -1;
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

Status ExecTransform::Invoke(const std::string& request, std::string* answer) {
  if (pid_ < 0) RETURN_IF_ERROR(Spawn());
  if (err_dropped_ > 0) {
    SLUICE_LOG(Warn, "transform stderr lines not logged")
        .With("delivery", delivery_)
        .With("lines", err_dropped_);
    err_dropped_ = 0;
  }
  err_lines_ = 0;
  DrainStderr();
  int64_t deadline = Clock::Real()->MonotonicMs() + timeout_.count();
  size_t done = 0;
  while (done < request.size()) {
    pollfd p{in_fd_, POLLOUT, 0};
    int left = static_cast<int>(std::max<int64_t>(0, deadline - Clock::Real()->MonotonicMs()));
    if (::poll(&p, 1, left) <= 0) return Unavailable("transform timed out writing its input");
    ssize_t n = ::write(in_fd_, request.data() + done, request.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write to transform", errno);
    done += static_cast<size_t>(n);
  }
  char buf[65536];
  while (true) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      answer->assign(pending_, 0, nl);
      pending_.erase(0, nl + 1);
      DrainStderr();
      return Status::Ok();
    }
    if (pending_.size() > kMaxAnswerBytes) {
      return InvalidArgument("transform answer longer than " + std::to_string(kMaxAnswerBytes) +
                             " bytes without a newline");
    }
    pollfd p[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int left = static_cast<int>(std::max<int64_t>(0, deadline - Clock::Real()->MonotonicMs()));
    if (::poll(p, 2, left) <= 0) return Unavailable("transform timed out");
    if (p[1].revents != 0) DrainStderr();
    if (p[0].revents == 0) {
      if (p[1].revents & (POLLHUP | POLLERR)) err_fd_ = (::close(err_fd_), -1);
      continue;
    }
    ssize_t n = ::read(out_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable("transform process exited");
    pending_.append(buf, static_cast<size_t>(n));
  }
}

Status Transform::ParseAnswer(std::string_view line, std::span<const TransformIn> records,
                              std::vector<TransformOut>* out) {
  rapidjson::Document d;
  Status d_parsed = ParseJson(line, &d);
  if (!d_parsed.ok() || !d.IsObject() || !d.HasMember("records") || !d["records"].IsArray()) {
    return InvalidArgument("transform answer is not {\"records\":[...]}");
  }
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < records.size(); ++i) index[records[i].record_id] = i;
  out->assign(records.size(), TransformOut{});
  std::vector<bool> seen(records.size(), false);
  for (const auto& r : d["records"].GetArray()) {
    if (!r.IsObject() || !r.HasMember("recordId") || !r["recordId"].IsString() ||
        !r.HasMember("result") || !r["result"].IsString()) {
      return InvalidArgument("transform answer record lacks recordId or result");
    }
    auto it =
        index.find(std::string_view(r["recordId"].GetString(), r["recordId"].GetStringLength()));
    if (it == index.end()) return InvalidArgument("transform answered an unknown recordId");
    if (seen[it->second]) return InvalidArgument("transform answered a recordId twice");
    seen[it->second] = true;
    TransformOut& o = (*out)[it->second];
    std::string_view result = r["result"].GetString();
    if (result == "Ok") {
      if (!r.HasMember("data") || !r["data"].IsString()) {
        return InvalidArgument("transform answered Ok without data");
      }
      auto data =
          Base64Decode(std::string_view(r["data"].GetString(), r["data"].GetStringLength()));
      if (!data.ok()) return InvalidArgument("transform answered data that is not base64");
      o.result = TransformOut::Result::kOk;
      o.data = std::move(*data);
      // metadata.partitionKeys: the !{partitionKeyFromLambda:k} values (dynamic partitioning).
      auto meta = r.FindMember("metadata");
      if (meta != r.MemberEnd() && meta->value.IsObject()) {
        auto keys = meta->value.FindMember("partitionKeys");
        if (keys != meta->value.MemberEnd() && keys->value.IsObject()) {
          for (const auto& k : keys->value.GetObject()) {
            if (!k.value.IsString()) {
              return InvalidArgument("transform answered a partition key that is not a string");
            }
            o.partition_keys.emplace(std::string(k.name.GetString(), k.name.GetStringLength()),
                                     std::string(k.value.GetString(), k.value.GetStringLength()));
          }
        }
      }
    } else if (result == "Dropped") {
      o.result = TransformOut::Result::kDropped;
    } else if (result == "ProcessingFailed") {
      o.result = TransformOut::Result::kProcessingFailed;
      o.error = "the transform answered ProcessingFailed";
    } else {
      return InvalidArgument("transform answered an unknown result");
    }
  }
  for (bool s : seen) {
    if (!s) return InvalidArgument("transform did not answer every recordId");
  }
  return Status::Ok();
}

std::vector<TransformOut> Transform::Apply(std::span<const TransformIn> records) {
  // Events of at most max_event_bytes_ of record data (at least one record each); base64 makes
  // them 4/3 as large, under Lambda's 6 MB cap at the 1 MiB default and the 3 MiB maximum.
  std::vector<TransformOut> out;
  out.reserve(records.size());
  size_t start = 0;
  while (start < records.size()) {
    size_t end = start, bytes = 0;
    while (end < records.size() &&
           (end == start || bytes + records[end].data.size() <= max_event_bytes_)) {
      bytes += records[end].data.size();
      ++end;
    }
    ApplyChunk(records.subspan(start, end - start), &out);
    start = end;
  }
  return out;
}

void Transform::ApplyChunk(std::span<const TransformIn> records, std::vector<TransformOut>* all) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("invocationId");
  w.String(("invocation-" + std::to_string(++invocations_)).c_str());
  w.Key("deliveryStreamArn");
  w.String(("arn:aws:firehose:local:000000000000:deliverystream/" + delivery_).c_str());
  w.Key("region");
  w.String("local");
  w.Key("records");
  w.StartArray();
  std::string b64;
  for (const auto& r : records) {
    w.StartObject();
    w.Key("recordId");
    w.String(r.record_id.data(), static_cast<rapidjson::SizeType>(r.record_id.size()));
    w.Key("approximateArrivalTimestamp");
    w.Int64(r.arrival_ms);
    w.Key("data");
    b64.clear();
    Base64Append(r.data, &b64);
    w.String(b64.data(), static_cast<rapidjson::SizeType>(b64.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::string request(sb.GetString(), sb.GetSize());
  request.push_back('\n');
  std::vector<TransformOut> out;
  Status last;
  if (request.size() > kMaxPayloadBytes) {
    last = InvalidArgument("the transform event is " + std::to_string(request.size()) +
                           " bytes, over the 6 MB payload cap");
  } else {
    for (int attempt = 0; attempt <= retries_; ++attempt) {
      std::string answer;
      last = Invoke(request, &answer);
      if (last.ok() && answer.size() > kMaxPayloadBytes) {
        last = InvalidArgument("the transform answer is over the 6 MB payload cap");
      }
      if (last.ok()) last = ParseAnswer(answer, records, &out);
      if (last.ok()) {
        for (auto& o : out) all->push_back(std::move(o));
        return;
      }
      SLUICE_LOG(Warn, "transform invocation failed")
          .With("delivery", delivery_)
          .With("attempt", attempt + 1)
          .With("error", last.message());
      Reset();
    }
  }
  for (size_t i = 0; i < records.size(); ++i) {
    TransformOut& o = all->emplace_back();
    o.error = last.message();  // result defaults to kProcessingFailed
  }
}

namespace {

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

Result<std::unique_ptr<HttpTransform>> HttpTransform::Create(std::string url, std::string delivery,
                                                             std::chrono::milliseconds timeout,
                                                             int retries, size_t max_event_bytes) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return InvalidArgument("transform.http: the URL must start with http:// or https://");
  }
  std::unique_ptr<HttpTransform> t(new HttpTransform());
  t->url_ = std::move(url);
  t->delivery_ = std::move(delivery);
  t->timeout_ = timeout;
  t->retries_ = retries;
  t->max_event_bytes_ = std::max<size_t>(1, max_event_bytes);
  curl_global_init(CURL_GLOBAL_DEFAULT);  // reference counted; thread-safe in current libcurl
  t->curl_ = curl_easy_init();
  if (t->curl_ == nullptr) return Internal("curl_easy_init failed");
  return t;
}

HttpTransform::~HttpTransform() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

void HttpTransform::Reset() {
  // A fresh connection for the retry.
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_ = curl_easy_init();
}

Status HttpTransform::Invoke(const std::string& request, std::string* answer) {
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return Unavailable("no curl handle");
  curl_easy_reset(c);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK)
    return Unavailable(std::string("POST ") + url_ + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return Unavailable("POST " + url_ + ": HTTP " + std::to_string(status));
  }
  return Status::Ok();
}

Result<std::unique_ptr<PluginTransform>> PluginTransform::Create(
    std::unique_ptr<SinkInstance> instance, std::string delivery, int retries,
    size_t max_event_bytes) {
  if (!instance || !instance->plugin().transform()) {
    return InvalidArgument(
        "transform.plugin: " + (instance ? instance->plugin().name() : std::string("(none)")) +
        " is not a transform plugin");
  }
  std::unique_ptr<PluginTransform> t(new PluginTransform());
  t->instance_ = std::move(instance);
  t->delivery_ = std::move(delivery);
  t->retries_ = retries;
  t->max_event_bytes_ = max_event_bytes;
  return t;
}

void PluginTransform::ApplyChunk(std::span<const TransformIn> records,
                                 std::vector<TransformOut>* all) {
  ids_.resize(records.size());
  records_.resize(records.size());
  outputs_.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ids_[i].assign(records[i].record_id);  // NUL-terminated for the ABI
    records_[i] = {reinterpret_cast<const uint8_t*>(records[i].data.data()), records[i].data.size(),
                   records[i].arrival_ms, ids_[i].c_str()};
  }
  const size_t base = all->size();
  all->resize(base + records.size());
  TransformOut* out = all->data() + base;
  int rc = -1;
  for (int attempt = 0; attempt <= retries_ && rc != 0; ++attempt) {
    rc = instance_->Transform(records_.data(), records_.size(), outputs_.data());
    if (rc != 0) {
      SLUICE_LOG(Warn, "transform plugin failed the invocation")
          .With("delivery", delivery_)
          .With("plugin", instance_->plugin().name())
          .With("attempt", attempt + 1)
          .With("rc", rc);
    }
  }
  for (size_t i = 0; i < records.size(); ++i) {
    const sluice_transform_output& o = outputs_[i];
    if (rc != 0) {
      out[i].result = TransformOut::Result::kProcessingFailed;
      out[i].error = "transform plugin " + instance_->plugin().name() + " failed the invocation";
    } else if (o.code == SLUICE_TRANSFORM_OK) {
      out[i].result = TransformOut::Result::kOk;
      if (o.data != nullptr) out[i].data.assign(reinterpret_cast<const char*>(o.data), o.len);
    } else if (o.code == SLUICE_TRANSFORM_DROPPED) {
      out[i].result = TransformOut::Result::kDropped;
    } else {
      out[i].result = TransformOut::Result::kProcessingFailed;
      out[i].error = o.reason ? o.reason : "the transform plugin answered FAILED";
    }
  }
}

}  // namespace sluice::buffer
