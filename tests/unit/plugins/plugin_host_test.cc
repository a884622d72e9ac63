#include "buffer/plugin_host.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "buffer/plugin_transform.h"
#include "core/secret_key.h"

namespace sluice::buffer {
namespace {

const std::filesystem::path kFixtures = SLUICE_FIXTURE_PLUGIN_DIR;

SinkOption Opt(std::string key, std::string value, int line, bool scalar = true) {
  SinkOption o;
  o.key = key;
  o.value = std::move(value);
  o.is_scalar = scalar;
  o.mark = {"sluice.yaml", line, 7};
  o.path = "deliveries[0].sink." + key;
  return o;
}

SinkSection Section(std::string type, std::vector<SinkOption> opts) {
  SinkSection s;
  s.type = std::move(type);
  s.options = std::move(opts);
  s.mark = {"sluice.yaml", 10, 5};
  s.path = "deliveries[0].sink";
  return s;
}

TEST(PluginHostTest, LoadsByTypeFromPluginDirs) {
  PluginHost host({"/nonexistent-dir", kFixtures});
  auto p = host.Load("fx_good");
  // The file fx_good.so declares the name "good": the mismatch is an error.
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("declares the name \"good\""), std::string::npos);
  auto file = PluginHost({SLUICE_PLUGIN_DIR}).Load("file");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
}

TEST(PluginHostTest, MissingFileNamesDirectories) {
  PluginHost host({kFixtures});
  auto p = host.Load("nosuch");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kNotFound);
  EXPECT_NE(p.status().message().find("nosuch.so not found in plugin_dirs"), std::string::npos);
  EXPECT_NE(p.status().message().find(kFixtures.string()), std::string::npos);
  auto f = host.LoadFile(kFixtures / "absent.so");
  EXPECT_EQ(f.status().code(), Code::kNotFound);
}

TEST(PluginHostTest, MissingSymbol) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_missing_symbol.so");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("missing the entry symbol sluice_plugin_entry"),
            std::string::npos)
      << p.status().message();
}

TEST(PluginHostTest, NullTable) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_null_table.so");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("returned NULL"), std::string::npos);
}

TEST(PluginHostTest, WrongAbiMajor) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_wrong_abi.so");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("built for ABI major 2, this host speaks ABI major 1"),
            std::string::npos)
      << p.status().message();
}

TEST(PluginHostTest, DuplicateName) {
  PluginHost host({});
  ASSERT_TRUE(host.LoadFile(kFixtures / "fx_dup_a.so").ok());
  auto p = host.LoadFile(kFixtures / "fx_dup_b.so");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("duplicate plugin name \"dup\": already provided by"),
            std::string::npos);
  EXPECT_NE(p.status().message().find("fx_dup_a.so"), std::string::npos);
}

TEST(PluginHostTest, ReadsTheDeclaredDeliveryPolicy) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_policy.so");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const SinkPolicy& policy = (*p)->policy();
  EXPECT_EQ(policy.size_min, 2048u);
  EXPECT_EQ(policy.size_default, 65536u);
  EXPECT_EQ(policy.size_max, 1048576u);
  EXPECT_EQ(policy.interval_min.count(), 100);
  EXPECT_EQ(policy.interval_default.count(), 2000);
  EXPECT_EQ(policy.interval_max.count(), 10000);
  EXPECT_EQ(policy.retry_default.count(), 30000);
  EXPECT_EQ(policy.retry_max.count(), 60000);
  EXPECT_EQ(policy.error_output_type, "policy-sink-failed");
  EXPECT_EQ(policy.call_timeout.count(), 45000);  // ABI 1.4
  EXPECT_FALSE((*p)->replay_exactly_once());      // an object sink without idempotent keys
  // A 1.0-1.2 table (no policy block) gets the default: S3's ranges, "<name>-failed".
  auto old = host.LoadFile(kFixtures / "fx_failing_create.so");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ((*old)->policy().size_max, 128u << 20);
  EXPECT_EQ((*old)->policy().error_output_type, "failing_create-failed");
  PluginHost in_tree({SLUICE_PLUGIN_DIR});
  auto file = in_tree.Load("file");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE((*file)->replay_exactly_once());
  EXPECT_EQ((*file)->policy().error_output_type, "file-failed");
  // A record sink is exactly once on replay only when it says so: record ids alone are not.
  auto http = in_tree.Load("http");
  ASSERT_TRUE(http.ok());
  EXPECT_FALSE((*http)->replay_exactly_once());
}

TEST(PluginHostTest, AnInconsistentPolicyIsRefusedAtLoad) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_bad_policy.so");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("its delivery policy is inconsistent: buffer size range"),
            std::string::npos)
      << p.status().message();
}

// A transform written with the C++ helper, driven the way a delivery drives it.
TEST(PluginHostTest, CxxTransformHelperAnswersPerRecord) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "cxx_transform.so");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE((*p)->transform());
  auto v = PluginHost::Validate(**p, Section("cxx_transform", {}));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  PluginCounters counters;
  auto inst = SinkInstance::Create(*p, *v, "d", &counters);
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  auto t = PluginTransform::Create(std::move(*inst), "d", 0);
  ASSERT_TRUE(t.ok());
  TransformIn in[4] = {
      {"0-1", 1, "id=42 ok"}, {"0-2", 2, "please drop"}, {"0-3", 3, "fail me"}, {"0-4", 4, "7"}};
  std::vector<TransformOut> out = (*t)->Apply(in);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].result, TransformOut::Result::kOk);
  EXPECT_EQ(out[0].data, "id=## ok");
  EXPECT_EQ(out[1].result, TransformOut::Result::kDropped);
  EXPECT_EQ(out[2].result, TransformOut::Result::kProcessingFailed);
  EXPECT_EQ(out[2].error, "cxx fixture: refused 0-3");
  EXPECT_EQ(out[3].data, "#");
  // Create's error comes back as the create failure, named.
  auto bad = PluginHost::Validate(**p, Section("cxx_transform", {Opt("mask", "xy", 11)}));
  ASSERT_TRUE(bad.ok());
  auto refused = SinkInstance::Create(*p, *bad, "d", &counters);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("mask must be 1 char"), std::string::npos)
      << refused.status().message();
}

// The host goes by the SLUICE_SECRET flag alone and the configuration loader by the key's name
// (core/secret_key): every in-tree sink declares secret each option its name says is one, so the
// two agree on them.
TEST(PluginHostTest, InTreeSinksDeclareTheSecretsTheirNamesSay) {
  PluginHost host({SLUICE_PLUGIN_DIR});
  size_t sinks = 0, secrets = 0;
  for (const auto& e : std::filesystem::directory_iterator(SLUICE_PLUGIN_DIR)) {
    if (e.path().extension() != ".so") continue;
    auto p = host.Load(e.path().stem().string());
    ASSERT_TRUE(p.ok()) << e.path() << ": " << p.status().ToString();
    ++sinks;
    for (const sluice_option_def* d = (*p)->table().options; d && d->name; ++d) {
      bool declared = (d->type & SLUICE_OPT_SECRET) != 0;
      if (IsSecretKey(d->name)) {
        EXPECT_TRUE(declared) << (*p)->name() << "." << d->name;
      }
      secrets += declared;
    }
  }
  EXPECT_GE(sinks, 2u);
  if (sinks > 2) {
    EXPECT_GT(secrets, 0u);  // more than file and blackhole: some have secrets
  }
}

// Options a plugin declares secret (SLUICE_SECRET) whatever their names: read from _file and
// _env, refused inline in a file others can read, never echoed in messages.
TEST(PluginHostTest, DeclaredSecretsAreHandledAsSecrets) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_secret.so");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::filesystem::path dir = ::testing::TempDir() + "fx_secret." + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& text, std::filesystem::perms mode) {
    std::filesystem::path f = dir / name;
    std::ofstream(f) << text;
    std::filesystem::permissions(f, mode);
    return f.string();
  };
  using std::filesystem::perms;
  std::string secret_file = write("dsn", "postgres://u:hunter2@db/x\n", perms::owner_read);
  std::string readable_cfg = write("open.yaml", "", perms::owner_all | perms::others_read);
  std::string private_cfg = write("private.yaml", "", perms::owner_all);
  auto opt = [](std::string key, std::string value, const std::string& file, bool literal) {
    SinkOption o = Opt(std::move(key), std::move(value), 12);
    o.mark.file = file;
    o.literal = literal;
    return o;
  };
  // dsn_file: the file's first line becomes dsn.
  auto v = PluginHost::Validate(
      **p, Section("secret", {opt("dsn_file", secret_file, private_cfg, true)}));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(OptionValue(*v, "dsn"), "postgres://u:hunter2@db/x");
  // dsn_env.
  setenv("SLUICE_T_DSN", "from-env", 1);
  v = PluginHost::Validate(**p,
                           Section("secret", {opt("dsn_env", "SLUICE_T_DSN", private_cfg, true)}));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(OptionValue(*v, "dsn"), "from-env");
  // Inline: fine in a private file, refused in one others can read.
  EXPECT_TRUE(
      PluginHost::Validate(**p, Section("secret", {opt("dsn", "inline", private_cfg, true)})).ok());
  v = PluginHost::Validate(**p, Section("secret", {opt("dsn", "inline", readable_cfg, true)}));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("a secret is written inline in a file others can read"),
            std::string::npos)
      << v.status().message();
  // A bad value of a secret is not echoed.
  v = PluginHost::Validate(**p, Section("secret", {opt("dsn", "x", private_cfg, true),
                                                   opt("pin", "s3cr3t", private_cfg, true)}));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message().find("s3cr3t"), std::string::npos) << v.status().message();
  EXPECT_NE(v.status().message().find("the value is a secret and is not shown"), std::string::npos);
  // Both the secret and its _file: one of them.
  v = PluginHost::Validate(**p,
                           Section("secret", {opt("dsn", "a", private_cfg, true),
                                              opt("dsn_file", secret_file, private_cfg, true)}));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("give one of dsn, dsn_file, dsn_env"), std::string::npos);
  EXPECT_NE(PluginHost::Reference(**p).find("| `dsn` | string, secret |"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// The host runs a private copy: a new build copied over the file on disk neither changes nor
// crashes (SIGBUS on a truncated mapping) the code loaded, and the next Load gets the new file.
TEST(PluginHostTest, OverwritingTheFileOnDiskCannotHurtTheLoadedCopy) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice_overwrite_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::filesystem::path so = dir / "fx_poison.so";
  std::filesystem::copy_file(kFixtures / "fx_poison.so", so);
  PluginHost host({dir});
  auto p = host.Load("fx_poison");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const std::string stamp = host.FileStamp("fx_poison");
  EXPECT_EQ((*p)->stamp(), stamp);
  PluginCounters counters;
  auto inst = SinkInstance::Create(*p, {{"path", (dir / "out.txt").string()}}, "d", &counters);
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  auto deliver = [&](const char* text) {
    sluice_record rec{reinterpret_cast<const uint8_t*>(text), std::strlen(text), 0, "0-0"};
    sluice_batch b{};
    b.struct_size = sizeof(b);
    b.batch_id = "b";
    b.records = &rec;
    b.record_count = 1;
    b.attempt = 1;
    sluice_record_outcome outcome{};
    sluice_deliver_result r{};
    r.outcomes = &outcome;
    return (*inst)->Deliver(b, &r);
  };
  EXPECT_EQ(deliver("one"), SLUICE_DELIVER_OK);
  {  // overwritten in place, shorter: pages of a mapping of the file itself would be gone
    std::ofstream junk(so, std::ios::binary | std::ios::trunc);
    junk << "not an ELF file";
  }
  EXPECT_EQ(deliver("two"), SLUICE_DELIVER_OK);
  EXPECT_NE(host.FileStamp("fx_poison"), stamp);
  auto broken = host.Load("fx_poison");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find(so.string() + ": dlopen failed"), std::string::npos)
      << broken.status().message();
  EXPECT_EQ(broken.status().message().find("/proc/self"), std::string::npos)
      << broken.status().message();
  std::filesystem::remove(so);
  std::filesystem::copy_file(kFixtures / "fx_poison.so", so);
  auto fresh = host.Load("fx_poison");
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_NE(*fresh, *p);  // the new build; the old instance keeps the old one
  EXPECT_EQ(deliver("three"), SLUICE_DELIVER_OK);
  inst->reset();
  std::ifstream in(dir / "out.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "one\ntwo\nthree\n");
  std::filesystem::remove_all(dir);
}

TEST(PluginHostTest, FailingCreate) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_failing_create.so");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  PluginCounters counters;
  auto inst = SinkInstance::Create(*p, {}, "d", &counters);
  ASSERT_FALSE(inst.ok());
  EXPECT_NE(
      inst.status().message().find("create failed: cannot reach the destination: bad credentials"),
      std::string::npos);
}

TEST(PluginHostTest, ValidateAppliesDefaultsAndNormalises) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_good.so");
  ASSERT_TRUE(p.ok());
  auto v = PluginHost::Validate(
      **p, Section("good", {Opt("path", "/x", 11), Opt("timeout", "2m", 12),
                            Opt("hosts", "[a, b]", 13, false), Opt("verbose", "true", 14)}));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(OptionValue(*v, "path"), "/x");
  EXPECT_EQ(OptionValue(*v, "retries"), "3");
  EXPECT_EQ(OptionValue(*v, "timeout"), "120000");
  EXPECT_EQ(OptionValue(*v, "max_body"), "1048576");
  EXPECT_EQ(OptionValue(*v, "mode"), "fast");
  EXPECT_EQ(OptionValue(*v, "verbose"), "true");
  EXPECT_EQ(OptionValue(*v, "hosts"), "[a, b]");  // the config loader's JSON text, as is
  // A scalar where a list belongs: a one-element JSON array of it, escaped.
  auto one = PluginHost::Validate(
      **p, Section("good", {Opt("path", "/x", 11), Opt("hosts", "a \"quoted\" host", 12)}));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(OptionValue(*one, "hosts"), "[\"a \\\"quoted\\\" host\"]");
  // Created with them, the C plugin counts through the host services.
  PluginCounters counters;
  auto inst = SinkInstance::Create(*p, *v, "d", &counters);
  ASSERT_TRUE(inst.ok());
  sluice_record recs[2] = {{nullptr, 0, 0, "0-0"}, {nullptr, 0, 0, "0-1"}};
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.records = recs;
  b.record_count = 2;
  sluice_deliver_result r;
  r.outcomes = nullptr;
  EXPECT_EQ((*inst)->Deliver(b, &r), SLUICE_DELIVER_OK);
  EXPECT_EQ(counters.Snapshot()["records"], 2u);
  EXPECT_TRUE((*inst)->Healthcheck().ok());
}

// host_compress (ABI 1.2): a C plugin compresses through the host; the output is one standard
// gzip member that zlib reads back to the input. The fixture also checks the failure answers
// (unknown codec, a buffer below the bound) and rejects the batch when they are wrong.
TEST(PluginHostTest, HostCompressWritesGzipAPluginCanSend) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "gzip_probe.so");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::string out_path = ::testing::TempDir() + "gzip_probe." + std::to_string(getpid()) + ".gz";
  auto v = PluginHost::Validate(**p, Section("gzip_probe", {Opt("path", out_path, 11)}));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  PluginCounters counters;
  auto inst = SinkInstance::Create(*p, *v, "d", &counters);
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  std::string object;
  for (int i = 0; object.size() < 300000; ++i) {
    object += "127.0.0.1 - - [03/Dec/2026:10:00:00 +0000] \"GET /item/" + std::to_string(i * 7919) +
              " HTTP/1.1\" 200 " + std::to_string(i % 5000) + "\n";
  }
  sluice_batch b{};
  b.struct_size = sizeof(b);
  b.batch_id = "b-1";
  b.object_key = "k";
  b.object_data = reinterpret_cast<const uint8_t*>(object.data());
  b.object_len = object.size();
  b.content_encoding = "";
  sluice_deliver_result r{};
  r.struct_size = sizeof(r);
  ASSERT_EQ((*inst)->Deliver(b, &r), SLUICE_DELIVER_OK) << r.error_message;

  std::ifstream in(out_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string gz = ss.str();
  std::remove(out_path.c_str());
  ASSERT_GT(gz.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size(), object.size() / 3);
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string back(object.size() + 1, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(back.data());
  zs.avail_out = static_cast<uInt>(back.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  EXPECT_EQ(zs.avail_in, 0u);  // one member, nothing after it
  back.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_EQ(back, object);
}

TEST(PluginHostTest, ValidateReportsEveryProblemWithPosition) {
  PluginHost host({});
  auto p = host.LoadFile(kFixtures / "fx_good.so");
  ASSERT_TRUE(p.ok());
  auto v = PluginHost::Validate(
      **p,
      Section("good", {Opt("pathh", "/x", 11), Opt("retries", "many", 12), Opt("mode", "slow", 13),
                       Opt("timeout", "5", 14), Opt("verbose", "[1]", 15, false)}));
  ASSERT_FALSE(v.ok());
  const std::string m = v.status().message();
  EXPECT_NE(m.find("sluice.yaml:11:7: deliveries[0].sink.pathh: unknown key 'pathh' for sink type "
                   "good (did you mean 'path'?)"),
            std::string::npos)
      << m;
  EXPECT_NE(
      m.find("sluice.yaml:12:7: deliveries[0].sink.retries: expected an integer, got \"many\""),
      std::string::npos);
  EXPECT_NE(m.find("sluice.yaml:13:7: deliveries[0].sink.mode: expected one of fast|safe"),
            std::string::npos);
  EXPECT_NE(m.find("sluice.yaml:14:7: deliveries[0].sink.timeout: expected a duration"),
            std::string::npos);
  EXPECT_NE(m.find("sluice.yaml:15:7: deliveries[0].sink.verbose: expected a bool, got a list"),
            std::string::npos);
  EXPECT_NE(m.find("sluice.yaml:10:5: deliveries[0].sink.path: required key is missing"),
            std::string::npos);
}

TEST(PluginHostTest, ReferenceListsOptions) {
  PluginHost host({SLUICE_PLUGIN_DIR});
  auto p = host.Load("file");
  ASSERT_TRUE(p.ok());
  std::string ref = PluginHost::Reference(**p);
  EXPECT_NE(ref.find("### `file` (object sink)"), std::string::npos);
  EXPECT_NE(ref.find("| `path` | string |  | yes |"), std::string::npos) << ref;
  EXPECT_NE(ref.find("| `fsync` | bool | `true` | no |"), std::string::npos);
}

}  // namespace
}  // namespace sluice::buffer
