// sink_driver: loads one sink plugin through the real plugin host (option validation, defaults,
// ABI trampolines) and delivers batches described on stdin, one JSON command a line, answering
// one JSON line each on stdout. The integration tests of the network sinks drive it.
//
//   sink_driver --plugins DIR --type s3 [--opt key=value]...
//   {"op":"deliver","key":"a/b.gz","file":"/tmp/x","encoding":"gzip","max_attempts":3}
//   {"op":"deliver","batch_id":"b1","records":["r1","r2"],"max_attempts":3}
//   {"op":"health"}
// Answer: {"code":0|1|2|3,"attempts":n,"error_code":"","error_message":"",
//          "records":[{"code":0,"reason":""},...]}   (records: final outcome per record)
// Retries follow the host: the whole object again, or only the records answered RETRY; no
// back-off (the tests inject faults that clear themselves).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "buffer/plugin_host.h"

using namespace sluice;

namespace {

int Fail(const std::string& msg) {
  std::cerr << "sink_driver: " << msg << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string plugins, type;
  buffer::SinkSection section;
  section.path = "sink";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--plugins") {
      plugins = v;
    } else if (a == "--type") {
      type = v;
    } else if (a == "--opt") {
      size_t eq = v.find('=');
      if (eq == std::string::npos) return Fail("--opt wants key=value");
      buffer::SinkOption o;
      o.key = v.substr(0, eq);
      o.value = v.substr(eq + 1);
      o.path = "sink." + o.key;
      section.options.push_back(std::move(o));
    } else {
      return Fail("unknown argument " + a);
    }
  }
  section.type = type;
  buffer::PluginHost host({plugins});
  Result<const buffer::Plugin*> plugin = host.Load(type);
  if (!plugin.ok()) return Fail(plugin.status().ToString());
  Result<buffer::ValidatedOptions> opts = buffer::PluginHost::Validate(**plugin, section);
  if (!opts.ok()) return Fail(opts.status().ToString());
  buffer::PluginCounters counters;
  Result<std::unique_ptr<buffer::SinkInstance>> inst =
      buffer::SinkInstance::Create(*plugin, *opts, "driver", &counters);
  if (!inst.ok()) return Fail(inst.status().ToString());
  std::cout << "{\"ready\":true}" << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    rapidjson::Document cmd;
    cmd.Parse(line.c_str());
    if (cmd.HasParseError() || !cmd.IsObject()) return Fail("bad command: " + line);
    std::string op = cmd["op"].GetString();
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    if (op == "health") {
      Status st = (*inst)->Healthcheck();
      w.Key("code");
      w.Int(st.ok() ? 0 : 1);
      w.Key("error_message");
      w.String(st.message().c_str());
    } else if (op == "deliver") {
      int max_attempts = cmd.HasMember("max_attempts") ? cmd["max_attempts"].GetInt() : 1;
      sluice_batch b{};
      b.struct_size = sizeof(b);
      std::string key = cmd.HasMember("key") ? cmd["key"].GetString() : "";
      std::string batch_id = cmd.HasMember("batch_id") ? cmd["batch_id"].GetString() : key;
      std::string encoding = cmd.HasMember("encoding") ? cmd["encoding"].GetString() : "";
      std::string key_id = cmd.HasMember("key_id") ? cmd["key_id"].GetString() : "";
      std::string data;
      std::vector<std::string> recs, ids;
      b.batch_id = batch_id.c_str();
      b.content_encoding = encoding.c_str();
      b.key_id = key_id.c_str();
      if (cmd.HasMember("file")) {
        std::ifstream in(cmd["file"].GetString(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        data = ss.str();
        b.object_key = key.c_str();
        b.object_data = reinterpret_cast<const uint8_t*>(data.data());
        b.object_len = data.size();
      }
      if (cmd.HasMember("records")) {
        for (const auto& r : cmd["records"].GetArray()) {
          recs.emplace_back(r.GetString(), r.GetStringLength());
          ids.push_back(batch_id + "-" + std::to_string(ids.size()));
        }
      }
      std::vector<int> final_code(recs.size(), SLUICE_DELIVER_RETRY);
      std::vector<std::string> final_reason(recs.size());
      std::vector<size_t> pending;
      for (size_t i = 0; i < recs.size(); ++i) pending.push_back(i);
      int rc = SLUICE_DELIVER_RETRY, attempt = 0;
      sluice_deliver_result res;
      while (attempt < max_attempts) {
        ++attempt;
        b.attempt = static_cast<uint32_t>(attempt);
        std::vector<sluice_record> send;
        for (size_t i : pending) {
          send.push_back({reinterpret_cast<const uint8_t*>(recs[i].data()), recs[i].size(), 0,
                          ids[i].c_str()});
        }
        std::vector<sluice_record_outcome> outcomes(send.size());
        if (!recs.empty()) {
          b.records = send.data();
          b.record_count = send.size();
        }
        res = sluice_deliver_result{};
        res.outcomes = recs.empty() ? nullptr : outcomes.data();
        rc = (*inst)->Deliver(b, &res);
        std::vector<size_t> still;
        for (size_t k = 0; k < pending.size(); ++k) {
          int c = rc == SLUICE_DELIVER_PARTIAL ? outcomes[k].code : rc;
          final_code[pending[k]] = c;
          if (rc == SLUICE_DELIVER_PARTIAL && outcomes[k].reason) {
            final_reason[pending[k]] = outcomes[k].reason;
          } else if (c != SLUICE_DELIVER_OK) {
            final_reason[pending[k]] = res.error_message;
          }
          if (c == SLUICE_DELIVER_RETRY) still.push_back(pending[k]);
        }
        pending.swap(still);
        if (rc == SLUICE_DELIVER_OK || rc == SLUICE_DELIVER_REJECT) break;
        if (rc == SLUICE_DELIVER_PARTIAL && pending.empty()) break;
      }
      w.Key("code");
      w.Int(rc);
      w.Key("attempts");
      w.Int(attempt);
      w.Key("error_code");
      w.String(res.error_code);
      w.Key("error_message");
      w.String(res.error_message);
      w.Key("records");
      w.StartArray();
      for (size_t i = 0; i < recs.size(); ++i) {
        w.StartObject();
        w.Key("code");
        w.Int(final_code[i]);
        w.Key("reason");
        w.String(final_reason[i].c_str());
        w.EndObject();
      }
      w.EndArray();
    } else {
      return Fail("unknown op " + op);
    }
    w.Key("counters");
    w.StartObject();
    for (const auto& [k, v] : counters.Snapshot()) {
      w.Key(k.c_str());
      w.Uint64(v);
    }
    w.EndObject();
    w.EndObject();
    std::cout << sb.GetString() << std::endl;
  }
  return 0;
}
