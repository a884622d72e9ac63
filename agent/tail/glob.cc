#include "agent/tail/glob.h"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::agent {
namespace {

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (!c.empty() && c != ".") out.push_back(c);
    i = j + 1;
  }
  return out;
}

std::string Join(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string s;
  s.reserve(dir.size() + 1 + name.size());
  s.append(dir);
  if (s.back() != '/') s.push_back('/');
  s.append(name);
  return s;
}

bool FnMatch(const std::string& pattern, std::string_view name) {
  std::string n(name);
  return fnmatch(pattern.c_str(), n.c_str(), FNM_PERIOD) == 0;
}

}  // namespace

bool MatchComponents(const std::vector<std::string>& pattern, size_t pi,
                     const std::vector<std::string_view>& path, size_t si) {
  while (pi < pattern.size()) {
    if (pattern[pi] == "**") {
      for (size_t k = si; k <= path.size(); ++k) {
        if (MatchComponents(pattern, pi + 1, path, k)) return true;
      }
      return false;
    }
    if (si >= path.size() || !FnMatch(pattern[pi], path[si])) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

Result<PathGlobs::Pattern> PathGlobs::Parse(std::string_view glob, bool is_exclude) {
  if (glob.empty()) return InvalidArgument("empty glob");
  if (glob.find('\0') != std::string_view::npos) {
    return InvalidArgument("glob \"" + std::string(glob) + "\" contains a NUL byte");
  }
  Pattern p;
  p.absolute = glob.front() == '/';
  p.whole_path = !is_exclude || glob.find('/') != std::string_view::npos;
  for (std::string_view c : SplitPath(glob)) {
    if (c.find("**") != std::string_view::npos && c != "**") {
      return InvalidArgument("glob \"" + std::string(glob) +
                             "\": '**' must be a whole path component");
    }
    p.parts.emplace_back(c);
  }
  if (p.parts.empty()) return InvalidArgument("glob \"" + std::string(glob) + "\" names no file");
  if (!is_exclude && p.parts.back() == "**") {
    return InvalidArgument("glob \"" + std::string(glob) + "\" must end in a file name pattern");
  }
  return p;
}

Result<PathGlobs> PathGlobs::Create(const std::vector<std::string>& paths,
                                    const std::vector<std::string>& exclude) {
  if (paths.empty()) return InvalidArgument("paths: at least one glob is required");
  PathGlobs g;
  for (size_t i = 0; i < paths.size(); ++i) {
    auto p = Parse(paths[i], false);
    if (!p.ok()) return p.status().Annotate("paths[" + std::to_string(i) + "]");
    g.include_.push_back(std::move(*p));
  }
  for (size_t i = 0; i < exclude.size(); ++i) {
    auto p = Parse(exclude[i], true);
    if (!p.ok()) return p.status().Annotate("exclude[" + std::to_string(i) + "]");
    g.exclude_.push_back(std::move(*p));
  }
  return g;
}

bool PathGlobs::Excluded(std::string_view path) const {
  std::vector<std::string_view> comps = SplitPath(path);
  for (const Pattern& p : exclude_) {
    if (!p.whole_path) {
      if (!comps.empty() && FnMatch(p.parts[0], comps.back())) return true;
      continue;
    }
    if (p.absolute != (!path.empty() && path.front() == '/')) continue;
    if (MatchComponents(p.parts, 0, comps, 0)) return true;
  }
  return false;
}

bool PathGlobs::Matches(std::string_view path) const {
  std::vector<std::string_view> comps = SplitPath(path);
  bool absolute = !path.empty() && path.front() == '/';
  for (const Pattern& p : include_) {
    if (p.absolute == absolute && MatchComponents(p.parts, 0, comps, 0)) return !Excluded(path);
  }
  return false;
}

void PathGlobs::AddFile(const std::string& path, GlobExpansion* out) const {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (Excluded(path)) return;
  out->files.push_back(path);
  out->info.push_back({static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                       static_cast<uint64_t>(st.st_size)});
}

void PathGlobs::Walk(const Pattern& p, const std::string& dir, size_t i, GlobExpansion* out,
                     std::vector<std::string>* seen_dirs) const {
  // Literal components are joined without reading the directory.
  std::string base = dir;
  while (i < p.parts.size() && !HasWildcard(p.parts[i]) && p.parts[i] != "**") {
    if (i + 1 == p.parts.size()) {
      seen_dirs->push_back(base.empty() ? "." : base);
      AddFile(Join(base, p.parts[i]), out);
      return;
    }
    base = Join(base, p.parts[i]);
    ++i;
  }
  if (i == p.parts.size()) return;
  const std::string open_dir = base.empty() ? "." : base;
  DIR* d = opendir(open_dir.c_str());
  if (d == nullptr) {
    if (errno != ENOENT && errno != ENOTDIR)
      out->errors.push_back(open_dir + ": " + strerror(errno));
    // The directory may appear later: its nearest existing parent is watched by the caller's
    // periodic rescan.
    return;
  }
  seen_dirs->push_back(open_dir);
  const std::string& comp = p.parts[i];
  const bool last = i + 1 == p.parts.size();
  std::vector<std::string> subdirs;
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
      struct stat st;
      // Symlinked directories are followed for one level of names, not for "**" (no loops).
      if (stat(Join(base, name).c_str(), &st) == 0) is_dir = S_ISDIR(st.st_mode);
      if (comp == "**" && e->d_type == DT_LNK) is_dir = false;
    }
    if (comp == "**") {
      if (is_dir && name.front() != '.') subdirs.emplace_back(name);
    } else if (FnMatch(comp, name)) {
      names.emplace_back(name);
    }
  }
  closedir(d);
  std::sort(subdirs.begin(), subdirs.end());
  std::sort(names.begin(), names.end());
  if (comp == "**") {
    Walk(p, base, i + 1, out, seen_dirs);  // zero directories
    for (const std::string& s : subdirs) Walk(p, Join(base, s), i, out, seen_dirs);
    return;
  }
  for (const std::string& n : names) {
    if (last) {
      AddFile(Join(base, n), out);
    } else {
      Walk(p, Join(base, n), i + 1, out, seen_dirs);
    }
  }
}

GlobExpansion PathGlobs::Expand() const {
  GlobExpansion out;
  std::vector<std::string> dirs;
  for (const Pattern& p : include_) Walk(p, p.absolute ? "/" : "", 0, &out, &dirs);
  std::vector<size_t> order(out.files.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return out.files[a] < out.files[b]; });
  std::vector<std::string> files;
  std::vector<GlobFileInfo> info;
  for (size_t i : order) {
    if (!files.empty() && files.back() == out.files[i]) continue;
    files.push_back(std::move(out.files[i]));
    info.push_back(out.info[i]);
  }
  out.files = std::move(files);
  out.info = std::move(info);
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  out.directories = std::move(dirs);
  return out;
}

}  // namespace sluice::agent
