#include <doctest/doctest.h>

#include <eddy/future/error.hpp>

#include <string>

TEST_SUITE("future/error") {
    TEST_CASE("every eddy exception is an eddy::Error and a std::exception") {
        CHECK_THROWS_AS(throw eddy::CancelledError("x"), eddy::Error);
        CHECK_THROWS_AS(throw eddy::TimeoutError(), eddy::Error);
        CHECK_THROWS_AS(throw eddy::InvalidStateError("x"), eddy::Error);
        CHECK_THROWS_AS(throw eddy::RuntimeError("x"), eddy::Error);
        CHECK_THROWS_AS(throw eddy::Error("x"), std::exception);
    }

    TEST_CASE("a CancelledError carries the cancel message") {
        eddy::CancelledError with("stop now");
        CHECK(std::string(with.what()) == "stop now");
        CHECK(with.message() == "stop now");
        eddy::CancelledError without;
        CHECK(without.message().empty());
        CHECK(std::string(without.what()) == "CancelledError");
    }
}
