#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace {

eddy::Coro<int> leaf(int v) {
    co_return v;
}

eddy::Coro<long> many_sync_awaits(int n) {
    long sum = 0;
    for (int i = 0; i < n; ++i) {
        sum += co_await leaf(1);
    }
    co_return sum;
}

eddy::Coro<long> nested(int depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await nested(depth - 1);
}

eddy::Coro<void> thrower() {
    throw std::logic_error("boom");
    co_return;
}

eddy::Coro<std::unique_ptr<int>> move_only() {
    co_return std::make_unique<int>(7);
}

int global_value = 5;
eddy::Coro<int&> ref_to_global() {
    co_return global_value;
}

} // namespace

TEST_SUITE("future/coro") {
    TEST_CASE("a Coro is lazy: calling it runs nothing") {
        bool ran = false;
        auto make = [&]() -> eddy::Coro<void> {
            ran = true;
            co_return;
        };
        {
            auto c = make();
            CHECK(c.valid());
        }
        CHECK_FALSE(ran);
    }

    TEST_CASE("awaiting a Coro runs it inline and returns its value") {
        CHECK(eddy::run([]() -> eddy::Coro<int> { co_return co_await leaf(41) + 1; }()) == 42);
    }

    TEST_CASE("a million synchronously completing awaits do not overflow the stack") {
        CHECK(eddy::run(many_sync_awaits(1'000'000)) == 1'000'000);
    }

    TEST_CASE("a million nested awaits do not overflow the stack") {
        CHECK(eddy::run(nested(1'000'000)) == 1'000'000);
    }

    TEST_CASE("an exception propagates to the awaiter") {
        auto outer = []() -> eddy::Coro<std::string> {
            try {
                co_await thrower();
            } catch (const std::logic_error& e) {
                co_return std::string("caught ") + e.what();
            }
            co_return "not caught";
        };
        CHECK(eddy::run(outer()) == "caught boom");
    }

    TEST_CASE("move-only values and references come back from a Coro") {
        auto outer = []() -> eddy::Coro<int> {
            std::unique_ptr<int> p = co_await move_only();
            int& r = co_await ref_to_global();
            r += 1;
            co_return *p;
        };
        CHECK(eddy::run(outer()) == 7);
        CHECK(global_value == 6);
    }

    TEST_CASE("an awaited Coro's frame and value are destroyed") {
        eddy::test::Counted::alive = 0;
        auto producer = []() -> eddy::Coro<eddy::test::Counted> {
            eddy::test::Counted local(1);
            co_return eddy::test::Counted(local.value + 1);
        };
        auto outer = [&]() -> eddy::Coro<int> {
            auto v = co_await producer();
            co_return v.value;
        };
        CHECK(eddy::run(outer()) == 2);
        CHECK(eddy::test::Counted::alive == 0);
    }

    TEST_CASE("a Coro that is never awaited destroys its frame without running") {
        eddy::test::Counted::alive = 0;
        {
            auto c = [](eddy::test::Counted arg) -> eddy::Coro<int> {
                co_return arg.value;
            }(eddy::test::Counted(3));
            CHECK(eddy::test::Counted::alive >= 1); // the parameter lives in the frame
        }
        CHECK(eddy::test::Counted::alive == 0);
    }

    TEST_CASE("create_task refuses an empty Coro") {
        auto loop = eddy::new_event_loop();
        eddy::Coro<int> empty;
        CHECK_THROWS_AS(loop.create_task(std::move(empty)), eddy::RuntimeError);
        loop.close();
    }
}
