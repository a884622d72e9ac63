#include "buffer/response_streams.h"

#include <curl/curl.h>

#include <cstdlib>

namespace sluice::buffer {

struct ResponseStreams::Stream {
  ResponseStreams* owner = nullptr;
  size_t id = 0;
  CURL* h = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  bool paused = false;
  char error[CURL_ERROR_SIZE] = {};
  ~Stream() {
    if (h != nullptr) curl_easy_cleanup(h);
    if (headers != nullptr) curl_slist_free_all(headers);
  }
};

ResponseStreams::ResponseStreams(OnData on_data, OnDone on_done)
    : on_data_(std::move(on_data)), on_done_(std::move(on_done)) {}

ResponseStreams::~ResponseStreams() {
  while (!streams_.empty()) Cancel(streams_.begin()->first);
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

size_t ResponseStreams::Write(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Stream*>(user);
  long status = 0;
  curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
  if (!s->owner->on_data_(s->id, status, std::string_view(data, size * n))) {
    s->paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  return size * n;
}

Status ResponseStreams::Start(size_t id, const sink::HttpRequest& request, int64_t max_ms) {
  if (multi_ == nullptr) {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return Internal("curl_multi_init failed");
    curl_multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  }
  if (active(id)) return Internal("stream " + std::to_string(id) + " is active");
  auto s = std::make_unique<Stream>();
  s->owner = this;
  s->id = id;
  s->h = curl_easy_init();
  if (s->h == nullptr) return Internal("curl_easy_init failed");
  s->body.assign(request.body);
  for (const auto& [name, value] : request.headers) {
    s->headers = curl_slist_append(s->headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip.
  s->headers = curl_slist_append(s->headers, "Expect:");
  CURL* h = s->h;
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, std::string(request.method).c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(s->body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                   request.url.starts_with("https://") ? CURL_HTTP_VERSION_2TLS
                                                       : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  if (std::getenv("SLUICE_CURL_VERBOSE") != nullptr) curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
  // A connection of its own, never reused: libcurl before 8.0 fails a request on a reused
  // prior-knowledge HTTP/2 connection ("Error in the HTTP2 framing layer", curl#10634), and a
  // subscription holds its connection for minutes anyway.
  curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(max_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &ResponseStreams::Write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, s.get());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->error);
  curl_easy_setopt(h, CURLOPT_PRIVATE, s.get());
  if (curl_multi_add_handle(static_cast<CURLM*>(multi_), h) != CURLM_OK) {
    return Internal("curl_multi_add_handle failed for " + request.url);
  }
  streams_.emplace(id, std::move(s));
  return Status::Ok();
}

void ResponseStreams::End(size_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), it->second->h);
  streams_.erase(it);
}

void ResponseStreams::Cancel(size_t id) { End(id); }

bool ResponseStreams::paused(size_t id) const {
  auto it = streams_.find(id);
  return it != streams_.end() && it->second->paused;
}

void ResponseStreams::Resume(size_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end() || !it->second->paused) return;
  it->second->paused = false;
  // May call Write at once, which may pause it again.
  curl_easy_pause(it->second->h, CURLPAUSE_CONT);
}

void ResponseStreams::Run(int timeout_ms) {
  if (multi_ == nullptr || streams_.empty()) return;
  auto* multi = static_cast<CURLM*>(multi_);
  int running = 0;
  curl_multi_perform(multi, &running);
  curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
  curl_multi_perform(multi, &running);
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    Stream* s = nullptr;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
    long status = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    const size_t id = s->id;
    Status transport = Status::Ok();
    if (m->data.result != CURLE_OK) {
      transport = Unavailable(s->error[0] != '\0' ? std::string(s->error)
                                                  : curl_easy_strerror(m->data.result));
    }
    End(id);  // s is gone
    on_done_(id, status, transport);
  }
}

}  // namespace sluice::buffer
