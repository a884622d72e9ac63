#include "agent/tail/log_formats.h"

namespace sluice::agent {
namespace {

// A double-quoted field of an Apache log, backslash escapes allowed inside.
constexpr const char kQuoted[] = R"re("((?:[^"\\]|\\.)*)")re";
std::string Common() {
  return std::string(R"re(^(\S+) (\S+) (\S+) \[([^\]]+)\] )re") + kQuoted + R"re( (\d{3}) (\S+))re";
}

}  // namespace

Result<LogFormat> BuiltInLogFormat(std::string_view name) {
  if (name == "common_apache") {
    return LogFormat{Common() + "$",
                     {"host", "ident", "authuser", "datetime", "request", "response", "bytes"}};
  }
  if (name == "combined_apache") {
    return LogFormat{Common() + " " + kQuoted + " " + kQuoted + "$",
                     {"host", "ident", "authuser", "datetime", "request", "response", "bytes",
                      "referer", "agent"}};
  }
  if (name == "apache_error") {
    // 2.2: [Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] message
    // 2.4: [Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client
    //      72.15.99.187:1234] message
    return LogFormat{
        R"(^\[([^\]]+)\] \[(?:([^:\]]+):)?([^\]]+)\](?: \[pid (\d+)(?::tid (\d+))?\])?)"
        R"((?: \[client ([^\]]+)\])? (.*)$)",
        {"timestamp", "module", "severity", "processid", "threadid", "client", "message"}};
  }
  if (name == "syslog") {
    // RFC 3164: [<PRI>]Mmm dd hh:mm:ss host program[pid]: message
    return LogFormat{R"(^(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) )"
                     R"(([^:\[\s]+)(?:\[(\d+)\])?: ?(.*)$)",
                     {"priority", "timestamp", "hostname", "program", "processid", "message"}};
  }
  if (name == "rfc5424") {
    // <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]
    return LogFormat{R"(^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) )"
                     R"((-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?:\xEF\xBB\xBF)?(.*))?$)",
                     {"priority", "version", "timestamp", "hostname", "appname", "procid", "msgid",
                      "structured_data", "message"}};
  }
  return NotFound("log format \"" + std::string(name) +
                  "\" is not one of common_apache, combined_apache, apache_error, syslog, "
                  "rfc5424, custom");
}

}  // namespace sluice::agent
