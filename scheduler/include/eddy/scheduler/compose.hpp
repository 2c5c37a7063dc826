#pragma once

/// asyncio's composition functions: `gather`, `wait`, `wait_for`, `as_completed`, `shield`,
/// correct when the Tasks involved run on different workers at the same time.
///
/// Inputs are awaitables: a `Coro<T>` (made a Task on the running loop, as asyncio's
/// `ensure_future`), a `Task<T>` or `Future<T>` (used as they are), or any other awaitable
/// such as `queue.get()` or `lock.acquire()` (run in a Task of its own).
///
/// ```cpp
/// auto [a, b] = co_await eddy::gather(fetch(1), fetch(2));          // a tuple, in order
/// std::vector<int> all = co_await eddy::gather(tasks);               // a vector
/// auto outcomes = co_await eddy::gather(tasks, {.return_exceptions = true});
/// auto [done, pending] = co_await eddy::wait(tasks, {.timeout = 1s,
///                                                   .return_when = eddy::FIRST_COMPLETED});
/// int v = co_await eddy::wait_for(fetch(3), 2s);                    // TimeoutError
/// for (auto next : eddy::as_completed(tasks)) { int v = co_await next; }
/// co_await eddy::shield(task);
/// ```
///
/// How it works: every function attaches an internal callback to each input that runs on the
/// thread completing it (no hop through a loop), and keeps its own bookkeeping in atomics or
/// under a lock, so children finishing on several workers at once are counted exactly once.
/// Results move out of Tasks the function created itself and are copied from futures the
/// caller passed in (the caller may still read them); move-only results always move.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/future/task.hpp>
#include <eddy/scheduler/event_loop.hpp>
#include <eddy/scheduler/handle.hpp>
#include <eddy/scheduler/queue.hpp>
#include <eddy/scheduler/timeout.hpp>

namespace eddy {

/// The outcome of one awaitable, as `gather(..., {.return_exceptions = true})` reports it:
/// a value, or the exception it raised (CancelledError when it was cancelled).
template <class T>
class Outcome {
public:
    explicit Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    explicit Outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    [[nodiscard]] bool has_exception() const noexcept { return v_.index() == 1; }
    explicit operator bool() const noexcept { return has_value(); }
    /// True when the exception is a CancelledError.
    [[nodiscard]] bool cancelled() const noexcept { return is_cancel(exception()); }
    /// The value; rethrows the exception when there is one.
    T& value() & {
        rethrow_if_failed();
        return std::get<0>(v_);
    }
    const T& value() const& {
        rethrow_if_failed();
        return std::get<0>(v_);
    }
    T&& value() && {
        rethrow_if_failed();
        return std::move(std::get<0>(v_));
    }
    T& operator*() & { return value(); }
    T* operator->() { return &value(); }
    /// The exception, or null when there is a value.
    [[nodiscard]] std::exception_ptr exception() const noexcept {
        return has_exception() ? std::get<1>(v_) : nullptr;
    }

    static bool is_cancel(const std::exception_ptr& e) noexcept {
        if (!e) {
            return false;
        }
        try {
            std::rethrow_exception(e);
        } catch (const CancelledError&) {
            return true;
        } catch (...) {
            return false;
        }
    }

private:
    void rethrow_if_failed() const {
        if (has_exception()) {
            std::rethrow_exception(std::get<1>(v_));
        }
    }
    std::variant<T, std::exception_ptr> v_;
};

/// `Outcome` of an awaitable without a value.
template <>
class Outcome<void> {
public:
    Outcome() = default;
    explicit Outcome(std::exception_ptr e) : e_(std::move(e)) {}
    [[nodiscard]] bool has_value() const noexcept { return !e_; }
    [[nodiscard]] bool has_exception() const noexcept { return static_cast<bool>(e_); }
    explicit operator bool() const noexcept { return has_value(); }
    [[nodiscard]] bool cancelled() const noexcept { return Outcome<int>::is_cancel(e_); }
    void value() const {
        if (e_) {
            std::rethrow_exception(e_);
        }
    }
    [[nodiscard]] std::exception_ptr exception() const noexcept { return e_; }

private:
    std::exception_ptr e_;
};

/// `gather(..., GatherOptions{...})`.
struct GatherOptions {
    /// asyncio's `return_exceptions`: every outcome comes back, none is raised.
    bool return_exceptions = false;
};

/// `wait(..., {.return_when})`.
enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// `wait(tasks, WaitOptions{...})`.
struct WaitOptions {
    std::optional<std::chrono::duration<double>> timeout{}; ///< none: no limit
    ReturnWhen return_when = ReturnWhen::ALL_COMPLETED;
};

/// What `wait` returns: the inputs that are done and those still pending, each in input order
/// (asyncio returns two sets).
template <class F>
struct WaitResult {
    std::vector<F> done;
    std::vector<F> pending;
};

/// `as_completed(aws, AsCompletedOptions{...})`.
struct AsCompletedOptions {
    std::optional<std::chrono::duration<double>> timeout{}; ///< none: no limit
};

namespace detail {

template <class F>
concept future_like = requires(const F& f) {
    typename F::value_type;
    requires std::is_base_of_v<Future<typename F::value_type>, F>;
};

template <class A>
concept awaitable = requires(A& a) {
    a.await_ready();
}
|| requires(A&& a) {
    std::forward<A>(a).operator co_await();
};

/// An input made a Future: Futures and Tasks stay themselves (`owned` false); anything else
/// becomes a Task on the running loop (`owned` true: its result may be moved out).
template <class R>
struct Child {
    using value_type = R;
    Future<R> fut;
    bool owned = false;
};

template <class A>
auto to_child(A&& a) {
    using D = std::remove_cvref_t<A>;
    if constexpr (future_like<D>) {
        return Child<typename D::value_type>{Future<typename D::value_type>(a), false};
    } else {
        using R = await_result_t<D>;
        // Awaitables are single-use: the input is consumed even when passed as an lvalue.
        Task<R> t = get_event_loop().create_task(as_coro(D(static_cast<D&&>(a))));
        return Child<R>{std::move(t), true};
    }
}

template <class T>
using plain_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// A done child's value: moved when the child is ours (or cannot be copied), else copied.
template <class T>
plain_value_t<T> take_value(Child<T>& c) {
    if constexpr (std::is_void_v<T>) {
        c.fut.result();
        return {};
    } else if constexpr (std::is_copy_constructible_v<T>) {
        if (c.owned) {
            return T(std::move(c.fut.result()));
        }
        return T(c.fut.result());
    } else {
        return T(std::move(c.fut.result()));
    }
}

template <class T>
Outcome<T> take_outcome(Child<T>& c) {
    try {
        if constexpr (std::is_void_v<T>) {
            c.fut.result();
            return Outcome<void>();
        } else {
            return Outcome<T>(take_value(c));
        }
    } catch (...) {
        return Outcome<T>(std::current_exception());
    }
}

template <class T, bool AsOutcome>
using gather_elem_t = std::conditional_t<AsOutcome, Outcome<T>, plain_value_t<T>>;

/// The state of a gather's outer future (asyncio's _GatheringFuture).
class GatherBase : public FutureStateBase {
public:
    /// asyncio: cancelling the gather cancels every child not yet done; the gather then ends
    /// with CancelledError once they have.
    bool cancel(std::string msg) override;
    /// Called inline by each child's completion.
    void on_child_done(FutureStateBase& child) noexcept;

protected:
    GatherBase(std::size_t n, bool return_exceptions) noexcept
        : FutureStateBase(default_scheduler(), false), total_(n),
          return_exceptions_(return_exceptions) {}
    ~GatherBase() override = default;
    [[nodiscard]] virtual FutureStateBase* child(std::size_t i) noexcept = 0;
    /// Stores the result in the value slot (all children done).
    virtual void build() = 0;
    void fail(std::exception_ptr e, bool report) noexcept;
    void attach(std::size_t n);

    const std::size_t total_;

private:
    /// Every child is done: the result, or CancelledError when cancel() cancelled any.
    void finish() noexcept;

    const bool return_exceptions_;
    /// acq_rel: the child that counts last sees every other child's completion (it reads
    /// their results in build()).
    std::atomic<std::size_t> finished_{0};
    /// Set by cancel() when it cancelled a child; read when the last child is done.
    std::atomic<bool> cancel_requested_{false};
    // Fix: cancel() used to set cancel_requested_ only after cancelling the children, but a
    // child's completion may run inline in child->cancel() (a plain Future) or at once on
    // another worker (a Task), so the last child could finish the gather with its outcomes
    // before the flag was set: `gather(..., {.return_exceptions = true})` then returned
    // instead of raising CancelledError, as asyncio does. Now the last child defers to a
    // cancel() in progress, which finishes the gather itself (seq_cst: a Dekker handshake;
    // the exchange on last_arrived_ lets exactly one of them call finish()).
    std::atomic<std::size_t> cancels_in_progress_{0};
    std::atomic<bool> last_arrived_{false};
};

template <class R, class Children, bool AsOutcome>
class GatherState final : public GatherBase, public ValueSlot<R> {
public:
    GatherState(Children children, bool return_exceptions)
        : GatherBase(count(children), return_exceptions), children_(std::move(children)) {}
    [[nodiscard]] void* value_slot() noexcept override { return static_cast<ValueSlot<R>*>(this); }
    void start() { attach(total_); }

private:
    static std::size_t count(const Children& c) {
        if constexpr (requires { c.size(); }) {
            return c.size();
        } else {
            return std::tuple_size_v<Children>;
        }
    }
    FutureStateBase* child(std::size_t i) noexcept override {
        if constexpr (requires { children_.size(); }) {
            return FutureAccess<typename Children::value_type::value_type>::state(children_[i].fut);
        } else {
            return tuple_child(i, std::make_index_sequence<std::tuple_size_v<Children>>{});
        }
    }
    template <std::size_t... I>
    FutureStateBase* tuple_child(std::size_t i, std::index_sequence<I...> /*unused*/) noexcept {
        FutureStateBase* found = nullptr;
        ((i == I ? (found = state_of(std::get<I>(children_))) : nullptr), ...);
        return found;
    }
    template <class T>
    static FutureStateBase* state_of(Child<T>& c) noexcept {
        return FutureAccess<T>::state(c.fut);
    }
    template <class T>
    static auto elem(Child<T>& c) {
        if constexpr (AsOutcome) {
            return take_outcome(c);
        } else {
            return take_value(c);
        }
    }
    void build() override {
        if constexpr (requires { children_.size(); }) {
            R out;
            out.reserve(children_.size());
            for (auto& c : children_) {
                out.push_back(elem(c));
            }
            this->emplace(std::move(out));
        } else {
            this->emplace(std::apply([](auto&... c) { return R(elem(c)...); }, children_));
        }
    }
    void destroy() noexcept override {
        if (exception_unretrieved_.load(std::memory_order_relaxed)) {
            report_unretrieved("Future exception was never retrieved", {});
        }
        delete this;
    }
    ~GatherState() override = default;

    Children children_;
};

template <class R, class Children, bool AsOutcome>
Future<R> start_gather(Children children, bool return_exceptions) {
    auto* s = new GatherState<R, Children, AsOutcome>(std::move(children), return_exceptions);
    Future<R> outer = Future<R>::from_state(s);
    s->release(); // from_state took its own reference
    s->start();
    return outer;
}

template <bool AsOutcome, class... A>
auto gather_tuple(bool return_exceptions, A&&... aws) {
    using Children = std::tuple<decltype(to_child(std::forward<A>(aws)))...>;
    using R =
        std::tuple<gather_elem_t<typename decltype(to_child(std::forward<A>(aws)).fut)::value_type,
                                 AsOutcome>...>;
    return start_gather<R, Children, AsOutcome>(Children(to_child(std::forward<A>(aws))...),
                                                return_exceptions);
}

template <bool AsOutcome, class Range>
auto gather_range(Range&& aws, bool return_exceptions) {
    using C = decltype(to_child(*std::ranges::begin(aws)));
    using T = typename decltype(C::fut)::value_type;
    std::vector<C> children;
    if constexpr (std::ranges::sized_range<Range>) {
        children.reserve(std::ranges::size(aws));
    }
    for (auto&& a : aws) {
        if constexpr (future_like<std::remove_cvref_t<decltype(a)>>) {
            children.push_back(to_child(a));
        } else {
            children.push_back(to_child(std::move(a))); // a Coro is consumed
        }
    }
    using R = std::vector<gather_elem_t<T, AsOutcome>>;
    return start_gather<R, std::vector<C>, AsOutcome>(std::move(children), return_exceptions);
}

/// A detached future completed when `state` is done (however it ends).
Future<void> when_done(FutureStateBase* state);

} // namespace detail

/// asyncio's `gather(*aws)`: a Future of the tuple of results, in argument order (`void`
/// results are `std::monostate`). The first exception (or cancellation) of a child is the
/// gather's; the other children keep running. Cancelling the gather cancels the children.
template <class... A>
requires(detail::awaitable<A>&&...) auto gather(A&&... aws) {
    return detail::gather_tuple<false>(false, std::forward<A>(aws)...);
}
/// `gather(options, a, b, ...)`: every result as an `Outcome<T>`; with
/// `.return_exceptions = true` exceptions come back as outcomes instead of being raised.
template <class... A>
requires(detail::awaitable<A>&&...) auto gather(GatherOptions options, A&&... aws) {
    return detail::gather_tuple<true>(options.return_exceptions, std::forward<A>(aws)...);
}
/// `gather(range)`: a Future of the vector of results, in range order.
template <std::ranges::input_range Range>
requires(!detail::awaitable<Range>) auto gather(Range&& aws) {
    return detail::gather_range<false>(std::forward<Range>(aws), false);
}
/// `gather(range, options)`: every result as an `Outcome<T>` (see above).
template <std::ranges::input_range Range>
requires(!detail::awaitable<Range>) auto gather(Range&& aws, GatherOptions options) {
    return detail::gather_range<true>(std::forward<Range>(aws), options.return_exceptions);
}

/// asyncio's `wait(fs, timeout=, return_when=)`: waits for Tasks/Futures (not Coros, as
/// asyncio since 3.11) until `return_when` holds or `timeout` passes; never cancels them.
/// Throws ValueError on an empty input.
template <std::ranges::input_range Range,
          class F = std::remove_cvref_t<std::ranges::range_value_t<Range>>>
requires detail::future_like<F> Coro<WaitResult<F>> wait(Range fs_in, WaitOptions options = {}) {
    std::vector<F> fs(std::ranges::begin(fs_in), std::ranges::end(fs_in));
    if (fs.empty()) {
        throw ValueError("Set of Tasks/Futures is empty.");
    }
    struct Shared {
        Shared(std::size_t n, ReturnWhen w)
            : left(n), waiter(detail::detached_future<void>()), when(w) {}
        std::atomic<std::size_t> left; // acq_rel decrements: only the count matters
        Future<void> waiter;
        ReturnWhen when;
    };
    auto shared = std::make_shared<Shared>(fs.size(), options.return_when);
    auto release_waiter = [](Shared& s) {
        (void)detail::FutureAccess<void>::state(s.waiter)->try_finish([] {});
    };
    TimerHandle timer;
    if (options.timeout) {
        timer = get_running_loop().call_later(
            *options.timeout, [shared, release_waiter] { release_waiter(*shared); });
    }
    std::vector<std::uint64_t> ids;
    ids.reserve(fs.size());
    for (F& f : fs) {
        ids.push_back(detail::add_inline_callback(
            detail::FutureAccess<typename F::value_type>::state(f),
            [shared, release_waiter](detail::FutureStateBase& s) {
                const std::size_t left = shared->left.fetch_sub(1, std::memory_order_acq_rel) - 1;
                bool fire = left == 0 || shared->when == ReturnWhen::FIRST_COMPLETED;
                if (!fire && shared->when == ReturnWhen::FIRST_EXCEPTION && !s.cancelled()) {
                    fire = static_cast<bool>(s.exception());
                }
                if (fire) {
                    release_waiter(*shared);
                }
            }));
    }
    std::exception_ptr error;
    try {
        co_await shared->waiter;
    } catch (...) {
        error = std::current_exception();
    }
    timer.cancel();
    for (std::size_t i = 0; i < fs.size(); ++i) {
        detail::FutureAccess<typename F::value_type>::state(fs[i])->remove_callback(ids[i]);
    }
    if (error) {
        std::rethrow_exception(error);
    }
    WaitResult<F> out;
    for (F& f : fs) {
        (f.done() ? out.done : out.pending).push_back(std::move(f));
    }
    co_return out;
}

namespace detail {
template <class A>
Coro<await_result_t<A>> wait_for_impl(A aw, std::optional<double> seconds) {
    using R = await_result_t<A>;
    if (seconds && *seconds <= 0) {
        // asyncio: a zero timeout takes what is already done, else cancels and waits.
        auto child = to_child(std::move(aw));
        if (!child.fut.done()) {
            child.fut.cancel();
            co_await when_done(FutureAccess<R>::state(child.fut));
        }
        std::exception_ptr error;
        if constexpr (std::is_void_v<R>) {
            try {
                child.fut.result();
            } catch (...) {
                error = std::current_exception();
            }
        } else {
            std::optional<R> value;
            try {
                value.emplace(take_value(child));
            } catch (...) {
                error = std::current_exception();
            }
            if (value) {
                co_return std::move(*value);
            }
        }
        if (error) {
            if (Outcome<int>::is_cancel(error)) {
                throw TimeoutError();
            }
            std::rethrow_exception(error);
        }
        if constexpr (!std::is_void_v<R>) {
            throw InvalidStateError("wait_for: the awaitable ended without a value");
        }
    } else {
        co_return co_await timeout(seconds).run(std::move(aw));
    }
}
} // namespace detail

/// asyncio's `wait_for(aw, timeout)`: `aw`'s value; when `timeout` passes first, `aw` is
/// cancelled, awaited until it has finished cancelling, and TimeoutError is thrown. A Coro
/// runs inside the calling Task (asyncio 3.12's behaviour); `std::nullopt` waits forever.
template <class A, class Rep, class Period>
requires detail::awaitable<A>
auto wait_for(A&& aw, std::chrono::duration<Rep, Period> timeout) {
    return detail::wait_for_impl(std::remove_cvref_t<A>(std::forward<A>(aw)),
                                 std::chrono::duration<double>(timeout).count());
}
template <class A>
requires detail::awaitable<A>
auto wait_for(A&& aw, std::optional<double> seconds) {
    return detail::wait_for_impl(std::remove_cvref_t<A>(std::forward<A>(aw)), seconds);
}

/// What `as_completed` returns: iterate it, `co_await` each element to get the next result
/// in completion order (or its exception; TimeoutError once the timeout passed).
template <class T>
class AsCompleted {
public:
    struct Shared {
        Queue<std::optional<detail::Child<T>>> done;
        TimerHandle timer;
    };

    class iterator {
    public:
        using difference_type = std::ptrdiff_t;
        using value_type = Coro<T>;
        iterator() = default;
        iterator(std::shared_ptr<Shared> s, std::size_t i) : s_(std::move(s)), i_(i) {}
        Coro<T> operator*() const { return next(s_); }
        iterator& operator++() {
            ++i_;
            return *this;
        }
        void operator++(int) { ++i_; }
        bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }

    private:
        std::shared_ptr<Shared> s_;
        std::size_t i_ = 0;
    };

    AsCompleted(std::shared_ptr<Shared> s, std::size_t n) : s_(std::move(s)), n_(n) {}
    AsCompleted(AsCompleted&&) noexcept = default;
    AsCompleted& operator=(AsCompleted&&) noexcept = default;
    AsCompleted(const AsCompleted&) = delete;
    AsCompleted& operator=(const AsCompleted&) = delete;
    ~AsCompleted() {
        if (s_) {
            s_->timer.cancel();
        }
    }

    [[nodiscard]] iterator begin() const { return iterator(s_, 0); }
    [[nodiscard]] iterator end() const { return iterator(s_, n_); }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }
    /// The next result in completion order.
    Coro<T> next() const { return next(s_); }

private:
    static Coro<T> next(std::shared_ptr<Shared> s) {
        std::optional<detail::Child<T>> item = co_await s->done.get();
        if (!item) {
            throw TimeoutError();
        }
        if constexpr (std::is_void_v<T>) {
            item->fut.result();
        } else {
            co_return T(detail::take_value(*item));
        }
    }
    std::shared_ptr<Shared> s_;
    std::size_t n_;
};

/// asyncio's `as_completed(aws, timeout=)`: see AsCompleted.
template <std::ranges::input_range Range>
auto as_completed(Range&& aws, AsCompletedOptions options = {}) {
    using C = decltype(detail::to_child(*std::ranges::begin(aws)));
    using T = typename decltype(C::fut)::value_type;
    using Shared = typename AsCompleted<T>::Shared;
    auto shared = std::make_shared<Shared>();
    std::vector<C> children;
    for (auto&& a : aws) {
        if constexpr (detail::future_like<std::remove_cvref_t<decltype(a)>>) {
            children.push_back(detail::to_child(a));
        } else {
            children.push_back(detail::to_child(std::move(a)));
        }
    }
    const std::size_t n = children.size();
    if (options.timeout && n > 0) {
        std::weak_ptr<Shared> weak = shared;
        shared->timer = get_running_loop().call_later(*options.timeout, [weak, n] {
            if (auto s = weak.lock()) {
                for (std::size_t i = 0; i < n; ++i) {
                    s->done.put_nowait(std::nullopt);
                }
            }
        });
    }
    for (C& c : children) {
        detail::add_inline_callback(
            detail::FutureAccess<T>::state(c.fut),
            [shared, c](detail::FutureStateBase& /*s*/) { shared->done.put_nowait(c); });
    }
    return AsCompleted<T>(std::move(shared), n);
}

/// asyncio's `shield(aw)`: a Future that completes as `aw` does, except that cancelling it
/// (or the Task awaiting it) does not cancel `aw`.
template <class A>
requires detail::awaitable<A>
auto shield(A&& aw) {
    auto child = detail::to_child(std::forward<A>(aw));
    using R = typename decltype(child.fut)::value_type;
    if (child.fut.done()) {
        return child.fut;
    }
    Future<R> outer;
    detail::add_inline_callback(
        detail::FutureAccess<R>::state(child.fut),
        [outer, child](detail::FutureStateBase& s) mutable {
            try {
                if (outer.cancelled()) {
                    if (!s.cancelled()) {
                        (void)s.exception(); // retrieved: nobody is left to read it
                    }
                    return;
                }
                if (s.cancelled()) {
                    outer.cancel();
                } else if (std::exception_ptr e = s.exception()) {
                    outer.set_exception(e);
                } else if constexpr (std::is_void_v<R>) {
                    outer.set_result();
                } else {
                    outer.set_result(detail::take_value(child));
                }
            } catch (const InvalidStateError&) {
                // the outer future was cancelled meanwhile: nothing to deliver
            } catch (...) {
                try {
                    outer.set_exception(std::current_exception()); // copying the value failed
                } catch (...) { // NOLINT(bugprone-empty-catch): cancelled meanwhile
                }
            }
        });
    return outer;
}

} // namespace eddy
