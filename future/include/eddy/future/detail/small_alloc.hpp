#pragma once

/// Recycling of small, short-lived blocks: coroutine frames (Tasks, Coros), callback Handles,
/// timers, Future states.
///
/// Each thread keeps a free list per size class (64, 128, 256, 512, 1024 bytes). Allocating
/// pops from the calling thread's list and freeing pushes onto the freeing thread's list: no
/// atomics, no locks. A block freed on another thread than the one that allocated it simply
/// migrates. Each list is capped; beyond the cap, and for larger sizes, blocks go to the global
/// allocator. In sanitizer builds (EDDY_NO_POOL) everything goes to the global allocator, so
/// ASan still sees every use after free.

#include <cstddef>

namespace eddy::detail {

/// A block of at least `size` bytes, aligned for any fundamental type.
void* small_alloc(std::size_t size);
/// Frees a block from `small_alloc(size)` (the same size).
void small_free(void* p, std::size_t size) noexcept;

/// Gives a class (and everything derived from it) recycled storage.
struct SmallAllocated {
    static void* operator new(std::size_t size) { return small_alloc(size); }
    static void operator delete(void* p, std::size_t size) noexcept { small_free(p, size); }
};

} // namespace eddy::detail
