#include "buffer/shared_bytes.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace sluice::buffer {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<SharedRegion> regions;
};

Registry& Regions() {
  static Registry* const r = new Registry();  // never destroyed: buffers may outlive statics
  return *r;
}

std::atomic<uint64_t> next_id{1};

void Publish(const SharedRegion& region) {
  Registry& r = Regions();
  std::lock_guard<std::mutex> lock(r.mu);
  for (SharedRegion& known : r.regions) {
    if (known.id == region.id) {
      known = region;
      return;
    }
  }
  r.regions.push_back(region);
}

void Withdraw(uint64_t id) {
  Registry& r = Regions();
  std::lock_guard<std::mutex> lock(r.mu);
  std::erase_if(r.regions, [id](const SharedRegion& s) { return s.id == id; });
}

constexpr size_t kPage = 4096;

}  // namespace

bool FindRegion(const void* p, size_t len, SharedRegion* out) {
  Registry& r = Regions();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const SharedRegion& s : r.regions) {
    if (s.Contains(p, len)) {
      *out = s;
      return true;
    }
  }
  return false;
}

bool RegionExists(uint64_t id) {
  Registry& r = Regions();
  std::lock_guard<std::mutex> lock(r.mu);
  return std::any_of(r.regions.begin(), r.regions.end(),
                     [id](const SharedRegion& s) { return s.id == id; });
}

SharedBytes::~SharedBytes() {
  if (!shared()) return;
  Withdraw(region_.id);
  munmap(const_cast<char*>(region_.base), region_.size);
  close(region_.fd);
}

bool SharedBytes::Share() {
  if (shared()) return true;
  int fd = memfd_create("sluice-batch", MFD_CLOEXEC);
  if (fd < 0) return false;
  size_t want = std::max<size_t>(
      (std::max(heap_.capacity(), heap_.size()) + kPage - 1) / kPage * kPage, kPage);
  if (ftruncate(fd, static_cast<off_t>(want)) != 0) {
    close(fd);
    return false;
  }
  void* p = mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return false;
  }
  if (!heap_.empty()) std::memcpy(p, heap_.data(), heap_.size());
  size_ = heap_.size();
  std::string().swap(heap_);
  region_ = SharedRegion{next_id.fetch_add(1), fd, static_cast<const char*>(p), want};
  Publish(region_);
  return true;
}

void SharedBytes::Grow(size_t n) {
  if (n <= region_.size) return;
  size_t want = (std::max(n, region_.size + region_.size / 2) + kPage - 1) / kPage * kPage;
  if (ftruncate(region_.fd, static_cast<off_t>(want)) != 0) throw std::bad_alloc();
  void* p = mremap(const_cast<char*>(region_.base), region_.size, want, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) throw std::bad_alloc();
  region_.base = static_cast<const char*>(p);
  region_.size = want;
  Publish(region_);
}

void SharedBytes::reserve(size_t n) {
  if (shared()) {
    Grow(n);
  } else {
    heap_.reserve(n);
  }
}

void SharedBytes::append(std::string_view s) {
  if (!shared()) {
    heap_.append(s);
    return;
  }
  if (s.empty()) return;
  if (size_ + s.size() > region_.size) Grow(size_ + s.size());
  std::memcpy(const_cast<char*>(region_.base) + size_, s.data(), s.size());
  size_ += s.size();
}

void SharedBytes::clear() {
  heap_.clear();
  size_ = 0;
}

}  // namespace sluice::buffer
