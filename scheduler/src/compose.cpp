#include <eddy/scheduler/compose.hpp>

namespace eddy::detail {

bool GatherBase::cancel(std::string msg) {
    if (done()) {
        return false;
    }
    bool any = false;
    for (std::size_t i = 0; i < total_; ++i) {
        if (child(i)->cancel(msg)) {
            any = true;
        }
    }
    if (any) {
        cancel_requested_.store(true, std::memory_order_relaxed);
    }
    return any;
}

void GatherBase::fail(std::exception_ptr e, bool report) noexcept {
    (void)try_finish([&] {
        exc_ = std::move(e);
        if (report) {
            exception_unretrieved_.store(true, std::memory_order_relaxed);
        }
    });
}

void GatherBase::attach(std::size_t n) {
    if (n == 0) {
        // asyncio: gather() of nothing is a future that is already done.
        (void)try_finish([&] { build(); });
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        add_ref(); // the callback's reference, dropped when it has run
        add_inline_callback(child(i), [this](FutureStateBase& c) {
            on_child_done(c);
            release();
        });
    }
}

void GatherBase::on_child_done(FutureStateBase& c) noexcept {
    const std::size_t n = finished_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (done()) {
        if (!c.cancelled()) {
            (void)c.exception(); // mark it retrieved, as asyncio does
        }
        return;
    }
    if (!return_exceptions_) {
        if (c.cancelled()) {
            // asyncio: a cancelled child makes the gather fail with CancelledError.
            try {
                c.check_result();
            } catch (...) {
                fail(std::current_exception(), false);
            }
            return;
        }
        if (std::exception_ptr e = c.exception()) {
            fail(std::move(e), true);
            return;
        }
    }
    if (n != total_) {
        return;
    }
    if (cancel_requested_.load(std::memory_order_relaxed)) {
        fail(std::make_exception_ptr(CancelledError()), false);
        return;
    }
    try {
        if (!try_finish([&] { build(); })) {
            return;
        }
    } catch (...) {
        fail(std::current_exception(), true);
    }
}

Future<void> when_done(FutureStateBase* state) {
    Future<void> done = detached_future<void>();
    add_inline_callback(state, [done](FutureStateBase& /*s*/) mutable {
        (void)FutureAccess<void>::state(done)->try_finish([] {});
    });
    return done;
}

} // namespace eddy::detail
