// Kubernetes names from container log paths, table-tested.
#include "agent/tail/kubernetes_path.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::agent {
namespace {

const std::string kId = "8d3a3f2b9c1e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90";
const std::string kUid = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

struct Case {
  std::string path;
  bool ok;
  KubernetesPath want;
};

TEST(KubernetesPathTest, Table) {
  const Case cases[] = {
      // /var/log/containers/<pod>_<namespace>_<container>-<id>.log
      {"/var/log/containers/web-7d9f8b6c5d-x2k4p_shop_nginx-" + kId + ".log",
       true,
       {"web-7d9f8b6c5d-x2k4p", "shop", "nginx", kId, ""}},
      // A pod name is a DNS subdomain: dots and dashes.
      {"/var/log/containers/etcd-node1.example.com_kube-system_etcd-" + kId + ".log",
       true,
       {"etcd-node1.example.com", "kube-system", "etcd", kId, ""}},
      // A container name with dashes: the id is what follows the last '-'.
      {"/var/log/containers/api-0_default_istio-proxy-" + kId + ".log",
       true,
       {"api-0", "default", "istio-proxy", kId, ""}},
      // Under another mount point, or a relative path.
      {"/host/var/log/containers/a_b_c-" + kId + ".log", true, {"a", "b", "c", kId, ""}},
      {"a_b_c-" + kId + ".log", true, {"a", "b", "c", kId, ""}},
      // Not the layout.
      {"/var/log/containers/web_shop_nginx-" + kId.substr(1) + ".log", false, {}},  // 63 chars
      {"/var/log/containers/web_shop_nginx-" + kId + ".log.1", false, {}},
      {"/var/log/containers/web_shop_nginx_" + kId + ".log", false, {}},
      {"/var/log/containers/web_shop-" + kId + ".log", false, {}},
      {"/var/log/containers/web_shop_ng_inx-" + kId + ".log", false, {}},    // '_' in a label
      {"/var/log/containers/Web_shop_nginx-" + kId + ".log", false, {}},     // upper case
      {"/var/log/containers/web-_shop_nginx-" + kId + ".log", false, {}},    // ends with '-'
      {"/var/log/containers/web..x_shop_nginx-" + kId + ".log", false, {}},  // empty label
      {"/var/log/containers/web_sh.op_nginx-" + kId + "x.log", false, {}},
      {"/var/log/containers/_shop_nginx-" + kId + ".log", false, {}},
      {"/var/log/containers/web_shop_-" + kId + ".log", false, {}},
      {"/var/log/containers/web_" + std::string(64, 'n') + "_nginx-" + kId + ".log", false, {}},
      // /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log
      {"/var/log/pods/shop_web-7d9f8b6c5d-x2k4p_" + kUid + "/nginx/0.log",
       true,
       {"web-7d9f8b6c5d-x2k4p", "shop", "nginx", "", kUid}},
      {"/var/log/pods/kube-system_etcd-node1.example.com_" + kUid + "/etcd/12.log",
       true,
       {"etcd-node1.example.com", "kube-system", "etcd", "", kUid}},
      {"pods/a_b_" + kUid + "/c/3.log", true, {"b", "a", "c", "", kUid}},
      {"/var/log/pods/shop_web_" + kUid + "/nginx/0.log.20240501-120000", false, {}},
      {"/var/log/pods/shop_web_" + kUid + "/nginx/0.log.gz", false, {}},
      {"/var/log/pods/shop_web_" + kUid + "/nginx/x.log", false, {}},
      {"/var/log/pods/shop_web_" + kUid + "/nginx/.log", false, {}},
      {"/var/log/pods/shop_web_" + kUid.substr(1) + "/nginx/0.log", false, {}},
      {"/var/log/pods/shop_web_x_" + kUid + "/nginx/0.log", false, {}},
      {"/var/log/pods/shop_" + kUid + "/nginx/0.log", false, {}},
      {"/var/log/pods/shop_web_" + kUid + "/Nginx/0.log", false, {}},
      {"/nginx/0.log", false, {}},
      {"0.log", false, {}},
      {"", false, {}},
      {"/var/log/syslog", false, {}},
  };
  for (const Case& c : cases) {
    auto got = ParseKubernetesLogPath(c.path);
    ASSERT_EQ(got.has_value(), c.ok) << c.path;
    if (c.ok) {
      EXPECT_EQ(*got, c.want) << c.path;
    }
  }
}

}  // namespace
}  // namespace sluice::agent
