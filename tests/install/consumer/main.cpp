#include <cstdio>

#include <eddy/eddy.hpp>

eddy::Coro<int> answer() {
    co_await eddy::yield_now();
    co_return 42;
}

int main() {
    std::printf("consumer: %d\n", eddy::run(answer()));
}
