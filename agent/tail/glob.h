// PathGlobs: the `paths` and `exclude` globs of a flow. `*`, `?` and `[...]` match within one path
// component (fnmatch(3) with FNM_PERIOD per component); a component that is exactly `**` matches
// zero or more directories. An exclude pattern without '/' is matched against the file name,
// otherwise against the whole path.
//
// THREADING: immutable after Create; Expand reads the file system and may run on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::agent {

// What stat(2) said of a matched file when it was found.
struct GlobFileInfo {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
};

struct GlobExpansion {
  std::vector<std::string> files;        // regular files (symlinks followed), deduplicated by path
  std::vector<GlobFileInfo> info;        // info[i] belongs to files[i]
  std::vector<std::string> directories;  // directories whose entries can change the result
  std::vector<std::string> errors;       // "path: reason" for directories that could not be read
};

class PathGlobs final {
 public:
  static Result<PathGlobs> Create(const std::vector<std::string>& paths,
                                  const std::vector<std::string>& exclude);

  // True if `path` matches an include glob and no exclude glob.
  bool Matches(std::string_view path) const;
  bool Excluded(std::string_view path) const;
  // Walks the file system for every file the globs match now.
  GlobExpansion Expand() const;

 private:
  struct Pattern {
    bool absolute = false;
    std::vector<std::string> parts;
    bool whole_path = true;  // exclude patterns without '/' match the file name only
  };
  static Result<Pattern> Parse(std::string_view glob, bool is_exclude);
  void Walk(const Pattern& p, const std::string& dir, size_t i, GlobExpansion* out,
            std::vector<std::string>* seen_dirs) const;
  void AddFile(const std::string& path, GlobExpansion* out) const;

  std::vector<Pattern> include_;
  std::vector<Pattern> exclude_;
};

// Matches path components against pattern components; exposed for tests.
bool MatchComponents(const std::vector<std::string>& pattern, size_t pi,
                     const std::vector<std::string_view>& path, size_t si);

}  // namespace sluice::agent
