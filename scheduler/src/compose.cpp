#include <eddy/scheduler/compose.hpp>

namespace eddy::detail {

bool GatherBase::cancel(std::string msg) {
    if (done()) {
        return false;
    }
    cancels_in_progress_.fetch_add(1);
    bool any = false;
    for (std::size_t i = 0; i < total_; ++i) {
        if (child(i)->cancel(msg)) {
            any = true;
        }
    }
    if (any) {
        cancel_requested_.store(true);
    }
    // The last child may have arrived while we were cancelling: it left finish() to us.
    if (cancels_in_progress_.fetch_sub(1) == 1 && last_arrived_.exchange(false)) {
        finish();
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
    last_arrived_.store(true);
    if (cancels_in_progress_.load() != 0) {
        return; // that cancel() calls finish() once it knows whether it cancelled anything
    }
    if (last_arrived_.exchange(false)) {
        finish();
    }
}

void GatherBase::finish() noexcept {
    if (cancel_requested_.load()) {
        fail(std::make_exception_ptr(CancelledError()), false);
        return;
    }
    if (!return_exceptions_) {
        // Fix: a failing child counts itself in finished_ before it calls fail(), so the last
        // child (on another worker) could get here first and build the result with the failed
        // child in it: `gather(GatherOptions{}, ...)` then returned the error as an Outcome
        // instead of raising it. Every child is done now: look for a failure first.
        for (std::size_t i = 0; i < total_; ++i) {
            FutureStateBase* c = child(i);
            if (c->cancelled()) {
                try {
                    c->check_result();
                } catch (...) {
                    fail(std::current_exception(), false);
                }
                return;
            }
            if (std::exception_ptr e = c->exception()) {
                fail(std::move(e), true);
                return;
            }
        }
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
