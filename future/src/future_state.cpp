#include <eddy/future/detail/future_state.hpp>

#include <condition_variable>
#include <cstdio>
#include <memory>

namespace eddy::detail {

FutureStateBase::FutureStateBase(Scheduler* loop, bool is_task) noexcept
    : is_task_(is_task), loop_(loop) {
    if (loop_ != nullptr) {
        loop_->add_ref();
    }
}

FutureStateBase::~FutureStateBase() {
    // Nodes still listed belong to no one else now: user callbacks never fired.
    for (CallbackNode* n = head_; n != nullptr;) {
        CallbackNode* next = n->next_;
        n->drop();
        n = next;
    }
    if (loop_ != nullptr) {
        loop_->release();
    }
}

void FutureStateBase::bind_loop(Scheduler* loop) noexcept {
    if (loop_ == nullptr && loop != nullptr) {
        loop->add_ref();
        loop_ = loop;
    }
}

bool FutureStateBase::cancel(std::string msg) {
    CallbackNode* list = nullptr;
    {
        std::lock_guard guard(lock_);
        if (status_.load(std::memory_order_relaxed) != FutureStatus::pending) {
            return false;
        }
        exc_ = std::make_exception_ptr(CancelledError(std::move(msg)));
        list = finish_locked(FutureStatus::cancelled);
    }
    fire_all(list);
    return true;
}

void FutureStateBase::set_exception(std::exception_ptr e) {
    if (!e) {
        throw Error("set_exception: the exception_ptr is null");
    }
    CallbackNode* list = nullptr;
    {
        std::lock_guard guard(lock_);
        if (status_.load(std::memory_order_relaxed) != FutureStatus::pending) {
            throw InvalidStateError("invalid state: the future is already done");
        }
        exc_ = std::move(e);
        // Relaxed: a diagnostic flag; the status store below publishes it anyway.
        exception_unretrieved_.store(true, std::memory_order_relaxed);
        list = finish_locked(FutureStatus::finished);
    }
    fire_all(list);
}

CallbackNode* FutureStateBase::finish_locked(FutureStatus status) noexcept {
    // The list is taken before the status is published: a reader that sees the future done
    // (acquire, without the lock) may go on to destroy it, and the destructor reads head_.
    CallbackNode* list = head_;
    head_ = tail_ = nullptr;
    // Release: publishes the value / exc_ (and the emptied list) written before it to readers
    // that load the status with acquire (status()), including readers that never take the lock.
    status_.store(status, std::memory_order_release);
    return list;
}

void FutureStateBase::fire_all(CallbackNode* list) noexcept {
    while (list != nullptr) {
        CallbackNode* next = list->next_; // read first: firing may free the node
        list->next_ = nullptr;
        list->fire(*this);
        list = next;
    }
}

void FutureStateBase::check_result() {
    switch (status()) {
    case FutureStatus::pending:
        throw InvalidStateError("Result is not set.");
    case FutureStatus::cancelled:
        std::rethrow_exception(exc_);
    case FutureStatus::finished:
        if (exc_) {
            exception_unretrieved_.store(false, std::memory_order_relaxed);
            std::rethrow_exception(exc_);
        }
        return;
    }
}

std::exception_ptr FutureStateBase::exception() {
    switch (status()) {
    case FutureStatus::pending:
        throw InvalidStateError("Exception is not set.");
    case FutureStatus::cancelled:
        std::rethrow_exception(exc_);
    case FutureStatus::finished:
        break;
    }
    exception_unretrieved_.store(false, std::memory_order_relaxed);
    return exc_;
}

std::uint64_t FutureStateBase::add_callback(CallbackNode* node) {
    {
        std::lock_guard guard(lock_);
        node->id_ = ++next_callback_id_;
        if (status_.load(std::memory_order_relaxed) == FutureStatus::pending) {
            append_locked(node);
            return node->id_;
        }
    }
    const std::uint64_t id = node->id_;
    node->fire(*this); // already done: schedule it now, as asyncio does
    return id;
}

bool FutureStateBase::add_waiter(CallbackNode* node) {
    std::lock_guard guard(lock_);
    if (status_.load(std::memory_order_relaxed) != FutureStatus::pending) {
        return false;
    }
    append_locked(node);
    return true;
}

void FutureStateBase::append_locked(CallbackNode* node) noexcept {
    node->next_ = nullptr;
    if (tail_ != nullptr) {
        tail_->next_ = node;
    } else {
        head_ = node;
    }
    tail_ = node;
}

namespace {
/// Unlinks the first node matching `pred`; returns it or null. Caller holds the lock.
template <class Pred>
CallbackNode* unlink(CallbackNode*& head, CallbackNode*& tail, Pred pred) noexcept {
    CallbackNode* prev = nullptr;
    for (CallbackNode* n = head; n != nullptr; prev = n, n = n->next_) {
        if (pred(n)) {
            (prev != nullptr ? prev->next_ : head) = n->next_;
            if (tail == n) {
                tail = prev;
            }
            n->next_ = nullptr;
            return n;
        }
    }
    return nullptr;
}
} // namespace

std::size_t FutureStateBase::remove_callback(std::uint64_t id) {
    CallbackNode* n = nullptr;
    {
        std::lock_guard guard(lock_);
        n = unlink(head_, tail_, [id](CallbackNode* c) { return c->id_ == id; });
    }
    if (n == nullptr) {
        return 0;
    }
    n->drop();
    return 1;
}

bool FutureStateBase::remove_node(CallbackNode* node) noexcept {
    std::lock_guard guard(lock_);
    return unlink(head_, tail_, [node](CallbackNode* c) { return c == node; }) != nullptr;
}

void FutureStateBase::report_unretrieved(const char* what, const std::string& task_name) noexcept {
    if (loop_ == nullptr) {
        try {
            std::rethrow_exception(exc_);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "eddy: %s: %s\n", what, e.what());
        } catch (...) {
            std::fprintf(stderr, "eddy: %s\n", what);
        }
        return;
    }
    try {
        loop_->report(ExceptionContext{what, exc_, task_name, {}});
    } catch (...) { // NOLINT(bugprone-empty-catch): a report must not throw from a destructor
    }
}

// --- blocking waits -------------------------------------------------------------------------

namespace {
/// What a blocked thread waits on. Shared by the waiter and the node in the done list, so
/// neither outlives the other's last use.
struct BlockingSync {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false; // guarded by mu
};

/// Fires inline on the completing thread (whatever loop the future is bound to: the blocked
/// thread may be the only one that could run that loop).
class BlockingWaiter final : public CallbackNode {
public:
    explicit BlockingWaiter(std::shared_ptr<BlockingSync> sync) noexcept : sync_(std::move(sync)) {}
    void fire(FutureStateBase& /*state*/) noexcept override {
        {
            std::lock_guard guard(sync_->mu);
            sync_->done = true;
        }
        sync_->cv.notify_all();
        delete this;
    }
    void drop() noexcept override { delete this; }

private:
    ~BlockingWaiter() = default;
    std::shared_ptr<BlockingSync> sync_;
};
} // namespace

bool FutureStateBase::wait_blocking(std::chrono::steady_clock::time_point deadline) {
    if (done()) {
        return true;
    }
    if (running_scheduler != nullptr) {
        throw RuntimeError("a blocking wait on a Future would block the running event loop "
                           "(co_await it instead)");
    }
    auto sync = std::make_shared<BlockingSync>();
    auto* node = new BlockingWaiter(sync);
    if (!add_waiter(node)) {
        node->drop();
        return true;
    }
    std::unique_lock lock(sync->mu);
    if (deadline == std::chrono::steady_clock::time_point::max()) {
        sync->cv.wait(lock, [&] { return sync->done; });
        return true;
    }
    if (sync->cv.wait_until(lock, deadline, [&] { return sync->done; })) {
        return true;
    }
    lock.unlock();
    // Timed out: take the node back unless completion already took it (then it fires soon,
    // and only touches `sync`, which it co-owns).
    if (remove_node(node)) {
        node->drop();
    }
    return done();
}

// --- DoneCallback --------------------------------------------------------------------------

DoneCallback::~DoneCallback() {
    if (free_ != nullptr) {
        free_(fn_);
    }
    if (state_ != nullptr) {
        state_->release();
    }
}

void DoneCallback::fire(FutureStateBase& state) noexcept {
    state.add_ref();
    state_ = &state;
    Scheduler* loop = state.loop();
    if (loop != nullptr && loop->schedule(this)) {
        return; // runs on the loop; run() deletes it
    }
    // No loop (or a closed one): run inline on the completing thread.
    try {
        call_(fn_, state);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "eddy: exception in done callback: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "eddy: exception in done callback\n");
    }
    delete this;
}

void DoneCallback::run() {
    struct Deleter {
        DoneCallback* self;
        ~Deleter() { delete self; }
    } deleter{this};
    try {
        call_(fn_, *state_);
    } catch (...) {
        // Runs on the future's loop: report there, as asyncio's "Exception in callback".
        if (running_scheduler != nullptr) {
            running_scheduler->report(
                {"Exception in done callback", std::current_exception(), {}, "done callback"});
        }
    }
}

void DoneCallback::discard() noexcept {
    delete this;
}

} // namespace eddy::detail
