#include <eddy/future/detail/small_alloc.hpp>

#include <array>
#include <new>

namespace eddy::detail {

#ifdef EDDY_NO_POOL

void* small_alloc(std::size_t size) {
    return ::operator new(size);
}
void small_free(void* p, std::size_t /*size*/) noexcept {
    ::operator delete(p);
}

#else

namespace {

// Size classes: 64-byte steps up to 512 (coroutine frames come in many sizes; a power-of-two
// ladder would waste up to half of each), then one class of 1024.
constexpr std::size_t step = 64;
constexpr std::size_t fine_limit = 512;
constexpr std::size_t max_block = 1024;
constexpr std::size_t class_count = fine_limit / step + 1;
/// Up to this many bytes of free blocks per class per thread (beyond: the global allocator).
constexpr std::size_t cache_bytes = std::size_t{1} << 20;

struct FreeBlock {
    FreeBlock* next;
};

struct FreeList {
    FreeBlock* head = nullptr;
    std::size_t count = 0;
};

constexpr std::size_t class_of(std::size_t size) noexcept {
    return size <= fine_limit ? (size == 0 ? 0 : (size - 1) / step) : class_count - 1;
}

constexpr std::size_t block_size(std::size_t c) noexcept {
    return c < class_count - 1 ? (c + 1) * step : max_block;
}

static_assert(class_of(64) == 0 && class_of(65) == 1 && class_of(512) == 7 && class_of(513) == 8);
static_assert(block_size(class_of(1000)) >= 1000 && block_size(class_of(300)) == 320);

class ThreadCache {
public:
    ThreadCache() = default;
    ThreadCache(const ThreadCache&) = delete;
    ThreadCache& operator=(const ThreadCache&) = delete;
    ~ThreadCache() {
        alive = false;
        for (std::size_t c = 0; c < class_count; ++c) {
            for (FreeBlock* b = lists_[c].head; b != nullptr;) {
                FreeBlock* next = b->next;
                ::operator delete(b);
                b = next;
            }
        }
    }

    void* alloc(std::size_t c) {
        FreeList& l = lists_[c];
        if (l.head != nullptr) {
            FreeBlock* b = l.head;
            l.head = b->next;
            --l.count;
            return b;
        }
        return ::operator new(block_size(c));
    }

    void free(void* p, std::size_t c) noexcept {
        FreeList& l = lists_[c];
        if (l.count * block_size(c) >= cache_bytes) {
            ::operator delete(p);
            return;
        }
        auto* b = static_cast<FreeBlock*>(p);
        b->next = l.head;
        l.head = b;
        ++l.count;
    }

    /// False once this thread's cache is being destroyed (thread exit): frees then bypass it.
    static thread_local bool alive;

private:
    std::array<FreeList, class_count> lists_{};
};

thread_local bool ThreadCache::alive = true;

ThreadCache& cache() {
    thread_local ThreadCache c;
    return c;
}

} // namespace

void* small_alloc(std::size_t size) {
    if (size > max_block) {
        return ::operator new(size);
    }
    const std::size_t c = class_of(size);
    if (!ThreadCache::alive) {
        return ::operator new(block_size(c)); // whole block: it may join a cache when freed
    }
    return cache().alloc(c);
}

void small_free(void* p, std::size_t size) noexcept {
    if (p == nullptr) {
        return;
    }
    if (size > max_block) {
        ::operator delete(p);
        return;
    }
    const std::size_t c = class_of(size);
    if (!ThreadCache::alive) {
        ::operator delete(p);
        return;
    }
    cache().free(p, c);
}

#endif

} // namespace eddy::detail
