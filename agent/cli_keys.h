// The key subcommands of the command line: `sluice keygen` writes a keyring line for envelope
// encryption (encryption.keyring), `sluice decrypt` opens objects a delivery encrypted and
// segments of an encrypted stream.
// Both work offline: they need no daemon. Return the process exit code (0 ok, 1 failure).
#pragma once

#include <string>
#include <vector>

namespace sluice::agent {

// Prints `<id> <base64 of 32 random bytes>`, one keyring line; `id` empty: "k-<UTC date>-<hex>".
int Keygen(const std::string& id);

// Writes the plaintext of each object (a file, or "-" for standard input) to standard output,
// in order: still compressed when the delivery compressed (pipe gzip objects to `gunzip`).
// A broker segment (`<data_dir>/streams/S/shardId-N/*.log`) is written as the plain segment it
// stands for (version 1, same frames), or with `records` as one JSON line per record.
// Each input that fails (neither, a key not in the keyring, tampered bytes) is named on standard
// error and the exit code is 1; the others are still written.
int Decrypt(const std::string& keyring_path, const std::vector<std::string>& files, bool records);

}  // namespace sluice::agent
