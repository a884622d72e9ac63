// A growable byte buffer that can live in shared memory, so that a plugin child process
// (`isolation: process`) reads a batch where the delivery built it instead of from a copy.
//
// By default the bytes are on the heap, as in a std::string. After Share() they are in an
// anonymous memory file (memfd) mapped here; the buffer is then a *shared region*, registered
// process-wide with an id, its descriptor and its mapping, so that whoever holds a pointer into
// it (a ProcessSinkInstance given a sluice_batch) can find the region, pass its descriptor to the
// child once, and send offsets instead of bytes. A region only grows (never shrinks) while it
// lives; growing moves the mapping here (and the registry with it), the child maps more of the
// same file when an offset passes what it mapped.
//
// THREADING: a buffer is used by one thread at a time. FindRegion may be called from any thread;
// a region's entry is valid until its buffer, used by the thread that found it, changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::buffer {

struct SharedRegion {
  uint64_t id = 0;  // unique in the process, never reused
  int fd = -1;      // the memory file: the region's bytes are its first `size` bytes
  const char* base = nullptr;
  size_t size = 0;  // mapped (and file) size
  bool Contains(const void* p, size_t len) const {
    auto c = static_cast<const char*>(p);
    return base != nullptr && c >= base && len <= size &&
           c - base <= static_cast<ptrdiff_t>(size - len);
  }
};

// The shared region holding [p, p + len), if any.
bool FindRegion(const void* p, size_t len, SharedRegion* out);
// Whether a region with this id still exists.
bool RegionExists(uint64_t id);

class SharedBytes {
 public:
  SharedBytes() = default;
  ~SharedBytes();
  SharedBytes(const SharedBytes&) = delete;
  SharedBytes& operator=(const SharedBytes&) = delete;
  // Moving (and swapping) keeps each region with its bytes.
  SharedBytes(SharedBytes&& other) noexcept { swap(other); }
  SharedBytes& operator=(SharedBytes&& other) noexcept {
    swap(other);
    return *this;
  }
  void swap(SharedBytes& other) noexcept {
    heap_.swap(other.heap_);
    std::swap(region_, other.region_);
    std::swap(size_, other.size_);
  }

  // Moves the bytes into a new shared region (keeping what is there). False, with errno, when no
  // memory file could be made: the buffer stays on the heap and works as before.
  bool Share();
  bool shared() const { return region_.fd >= 0; }

  const char* data() const { return shared() ? region_.base : heap_.data(); }
  size_t size() const { return shared() ? size_ : heap_.size(); }
  bool empty() const { return size() == 0; }
  operator std::string_view() const { return {data(), size()}; }

  void reserve(size_t n);
  void append(std::string_view s);
  void clear();

 private:
  // Makes the shared region at least `n` bytes; aborts the process when the memory cannot be had
  // (as std::string's allocation failure would).
  void Grow(size_t n);

  std::string heap_;
  SharedRegion region_;
  size_t size_ = 0;
};

}  // namespace sluice::buffer
