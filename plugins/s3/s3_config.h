// The s3 sink's option table and its translation into an S3Config.
#pragma once

#include <string>

#include "plugins/common/s3_client.h"
#include "sluice_sink.hpp"

namespace sluice::s3 {

// NULL-name-terminated; static storage.
extern const sluice_option_def kS3Options[];

// Reads the validated options. Returns false with *error set when they contradict each other.
Status ParseS3Config(const sluice::Options& opts, S3Config* config, std::string* content_type);

}  // namespace sluice::s3
