#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace eddy::detail {

template <class Signature>
class UniqueFunction;

/// A move-only `std::function`: holds any callable, including ones that capture move-only
/// values (a Future, a unique_ptr). Callables up to 3 pointers in size are stored inline.
template <class R, class... Args>
class UniqueFunction<R(Args...)> {
    static constexpr std::size_t inline_size = 3 * sizeof(void*);

    struct Ops {
        R (*call)(void* self, Args&&... args);
        void (*move)(void* from, void* to) noexcept; // move-construct into `to`, destroy `from`
        void (*destroy)(void* self) noexcept;
    };

    // The terms differ per F (clang-tidy judges one instantiation).
    // NOLINTBEGIN(misc-redundant-expression)
    template <class F>
    static constexpr bool
        fits_inline = sizeof(F) <= inline_size &&
                      alignof(F) <= alignof(void*) && std::is_nothrow_move_constructible_v<F>;
    // NOLINTEND(misc-redundant-expression)

    template <class F>
    static const Ops* ops_for() noexcept {
        if constexpr (fits_inline<F>) {
            static constexpr Ops ops{[](void* self, Args&&... args) -> R {
                                         return (*static_cast<F*>(self))(
                                             std::forward<Args>(args)...);
                                     },
                                     [](void* from, void* to) noexcept {
                                         ::new (to) F(std::move(*static_cast<F*>(from)));
                                         static_cast<F*>(from)->~F();
                                     },
                                     [](void* self) noexcept { static_cast<F*>(self)->~F(); }};
            return &ops;
        } else {
            static constexpr Ops ops{
                [](void* self, Args&&... args) -> R {
                    return (**static_cast<F**>(self))(std::forward<Args>(args)...);
                },
                [](void* from, void* to) noexcept { ::new (to) F*(*static_cast<F**>(from)); },
                [](void* self) noexcept { delete *static_cast<F**>(self); }};
            return &ops;
        }
    }

public:
    UniqueFunction() noexcept = default;
    UniqueFunction(std::nullptr_t) noexcept {} // NOLINT(google-explicit-constructor)

    template <class F, class D = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same_v<D, UniqueFunction> &&
                                       std::is_invocable_r_v<R, D&, Args...>>>
    UniqueFunction(
        F&& f) { // NOLINT(google-explicit-constructor,bugprone-forwarding-reference-overload)
        if constexpr (fits_inline<D>) {
            ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
        } else {
            ::new (static_cast<void*>(storage_)) D*(new D(std::forward<F>(f)));
        }
        ops_ = ops_for<D>();
    }

    UniqueFunction(UniqueFunction&& other) noexcept : ops_(other.ops_) {
        if (ops_ != nullptr) {
            ops_->move(other.storage_, storage_);
            other.ops_ = nullptr;
        }
    }

    UniqueFunction& operator=(UniqueFunction&& other) noexcept {
        if (this != &other) {
            reset();
            ops_ = other.ops_;
            if (ops_ != nullptr) {
                ops_->move(other.storage_, storage_);
                other.ops_ = nullptr;
            }
        }
        return *this;
    }

    UniqueFunction(const UniqueFunction&) = delete;
    UniqueFunction& operator=(const UniqueFunction&) = delete;
    ~UniqueFunction() { reset(); }

    void reset() noexcept {
        if (ops_ != nullptr) {
            ops_->destroy(storage_);
            ops_ = nullptr;
        }
    }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    R operator()(Args... args) { return ops_->call(storage_, std::forward<Args>(args)...); }

private:
    alignas(void*) std::byte storage_[inline_size]{};
    const Ops* ops_ = nullptr;
};

} // namespace eddy::detail
