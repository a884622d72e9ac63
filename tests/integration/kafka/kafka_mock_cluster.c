/* A Kafka cluster for the kafka sink's tests: librdkafka's built-in mock cluster (real Kafka
 * protocol, in memory) with three brokers on loopback ports it picks itself.
 *
 * Usage: kafka_mock_cluster [topic partitions replicas]...
 * Prints "BOOTSTRAP host:port,host:port,..." on stdout once it serves, then reads commands on
 * stdin, one a line, and answers each with "OK" (or "ERR <why>"):
 *   TOPIC <name> <partitions> <replicas>   create a topic
 *   DOWN <broker id>                       disconnect a broker and refuse new connections
 *   UP <broker id>                         serve again
 *   ERRORS <api key> <error code>...       the next requests of that API get these errors
 * It serves until stdin closes or SIGTERM / SIGINT.
 *
 * THREADING: the cluster runs on librdkafka's threads; main only reads commands. */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void OnSignal(int sig) {
  (void)sig;
  stop = 1;
}

static int Command(rd_kafka_mock_cluster_t *mc, char *line) {
  char *save = NULL;
  char *verb = strtok_r(line, " \t\r\n", &save);
  if (!verb) return 0;
  if (strcmp(verb, "TOPIC") == 0) {
    char *name = strtok_r(NULL, " \t\r\n", &save);
    char *parts = strtok_r(NULL, " \t\r\n", &save);
    char *replicas = strtok_r(NULL, " \t\r\n", &save);
    if (!name || !parts || !replicas) return -1;
    return rd_kafka_mock_topic_create(mc, name, atoi(parts), atoi(replicas)) ? -1 : 0;
  }
  if (strcmp(verb, "DOWN") == 0 || strcmp(verb, "UP") == 0) {
    char *id = strtok_r(NULL, " \t\r\n", &save);
    if (!id) return -1;
    rd_kafka_resp_err_t err = verb[0] == 'D' ? rd_kafka_mock_broker_set_down(mc, atoi(id))
                                             : rd_kafka_mock_broker_set_up(mc, atoi(id));
    return err ? -1 : 0;
  }
  if (strcmp(verb, "ERRORS") == 0) {
    char *api = strtok_r(NULL, " \t\r\n", &save);
    rd_kafka_resp_err_t errors[64];
    size_t n = 0;
    char *e;
    if (!api) return -1;
    while (n < 64 && (e = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
      errors[n++] = (rd_kafka_resp_err_t)atoi(e);
    }
    if (n == 0) return -1;
    rd_kafka_mock_push_request_errors_array(mc, (int16_t)atoi(api), n, errors);
    return 0;
  }
  return -1;
}

int main(int argc, char **argv) {
  char err[512];
  char line[1024];
  struct sigaction sa;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk;
  rd_kafka_mock_cluster_t *mc;
  int i;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal; /* no SA_RESTART: a blocked read returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    fprintf(stderr, "kafka_mock_cluster: %s\n", err);
    return 1;
  }
  mc = rd_kafka_mock_cluster_new(rk, 3);
  if (!mc) {
    fprintf(stderr, "kafka_mock_cluster: cannot start the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (i = 1; i + 2 < argc; i += 3) {
    if (rd_kafka_mock_topic_create(mc, argv[i], atoi(argv[i + 1]), atoi(argv[i + 2]))) {
      fprintf(stderr, "kafka_mock_cluster: cannot create topic %s\n", argv[i]);
      return 1;
    }
  }
  printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  while (!stop && fgets(line, sizeof(line), stdin) != NULL) {
    printf(Command(mc, line) == 0 ? "OK\n" : "ERR bad command\n");
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
