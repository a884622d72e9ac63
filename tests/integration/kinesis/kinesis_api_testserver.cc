// kinesis_api_testserver: a broker in a fresh temporary directory behind the Kinesis API on
// 127.0.0.1, for the Node SDK integration tests and benchmarks.
//
//   kinesis_api_testserver [--port N] [--auth ACCESS_KEY_ID:SECRET] [--data-dir DIR]
//                          [--max-body-size BYTES] [--provisioned]
//
// Prints "PORT <n>" on stdout once listening; stops cleanly on SIGINT, SIGTERM or when stdin
// closes (so a test that dies takes its server with it). Removes the temporary directory unless
// --data-dir was given.
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "broker/api/kinesis_api.h"
#include "broker/broker.h"

namespace {

struct App {
  uv_loop_t* loop = nullptr;
  sluice::broker::api::KinesisApiServer* server = nullptr;
  uv_signal_t sigint, sigterm;
  uv_pipe_t in;
  uv_timer_t sync;
  bool stopping = false;
  sluice::broker::Broker* broker = nullptr;
};

void Shutdown(App* app) {
  if (app->stopping) return;
  app->stopping = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&app->in), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sync), nullptr);
  app->server->Stop([] {});
}

int Usage(const char* why) {
  fprintf(stderr,
          "kinesis_api_testserver: %s\nusage: kinesis_api_testserver [--port N] "
          "[--auth KEY:SECRET] [--data-dir DIR] [--max-body-size BYTES] [--provisioned] "
          "[--workers N]\n",
          why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::broker::api::ApiOptions opts;
  int port = 0;
  std::string data_dir;
  bool provisioned = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--port" && has_value) {
      port = atoi(argv[++i]);
    } else if (a == "--auth" && has_value) {
      std::string v = argv[++i];
      size_t colon = v.find(':');
      if (colon == std::string::npos) return Usage("--auth takes ACCESS_KEY_ID:SECRET");
      opts.credentials.push_back({v.substr(0, colon), v.substr(colon + 1), nullptr, ""});
    } else if (a == "--data-dir" && has_value) {
      data_dir = argv[++i];
    } else if (a == "--max-body-size" && has_value) {
      opts.max_body_size = strtoull(argv[++i], nullptr, 10);
    } else if (a == "--workers" && has_value) {
      opts.workers = atoi(argv[++i]);
    } else if (a == "--provisioned") {
      provisioned = true;
    } else {
      return Usage(("unknown argument " + a).c_str());
    }
  }
  bool temp = data_dir.empty();
  if (temp) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-kinesis-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return Usage("cannot create a temporary directory");
    data_dir = tmpl;
  }
  sluice::broker::BrokerOptions bo;
  bo.data_dir = data_dir;
  auto broker = sluice::broker::Broker::Open(bo);
  if (!broker.ok()) {
    fprintf(stderr, "kinesis_api_testserver: %s\n", broker.status().ToString().c_str());
    return 1;
  }
  opts.listen = "127.0.0.1:" + std::to_string(port);
  opts.data_dir = data_dir;
  if (provisioned) opts.default_mode = sluice::broker::CapacityMode::kProvisioned;
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto server = sluice::broker::api::KinesisApiServer::Create(&loop, broker->get(), opts);
  if (!server.ok()) {
    fprintf(stderr, "kinesis_api_testserver: %s\n", server.status().ToString().c_str());
    return 1;
  }
  sluice::Status st = (*server)->Start();
  if (!st.ok()) {
    fprintf(stderr, "kinesis_api_testserver: %s\n", st.ToString().c_str());
    return 1;
  }
  App app;
  app.loop = &loop;
  app.server = server->get();
  app.broker = broker->get();
  uv_signal_init(&loop, &app.sigint);
  uv_signal_init(&loop, &app.sigterm);
  app.sigint.data = app.sigterm.data = &app;
  auto on_signal = [](uv_signal_t* s, int) { Shutdown(static_cast<App*>(s->data)); };
  uv_signal_start(&app.sigint, on_signal, SIGINT);
  uv_signal_start(&app.sigterm, on_signal, SIGTERM);
  uv_pipe_init(&loop, &app.in, 0);
  app.in.data = &app;
  if (uv_pipe_open(&app.in, 0) == 0) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&app.in),
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          static char buf[256];
          *b = uv_buf_init(buf, sizeof(buf));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
          if (n < 0) Shutdown(static_cast<App*>(s->data));
        });
  }
  uv_timer_init(&loop, &app.sync);
  app.sync.data = &app;
  uv_timer_start(
      &app.sync, [](uv_timer_t* t) { (void)static_cast<App*>(t->data)->broker->SyncDue(); }, 100,
      100);
  printf("PORT %d\n", (*server)->port());
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  server->reset();
  int rc = uv_loop_close(&loop);
  broker->reset();
  if (temp) std::filesystem::remove_all(data_dir);
  return rc == 0 ? 0 : 1;
}
