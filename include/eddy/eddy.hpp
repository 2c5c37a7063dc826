#pragma once

/// The umbrella header: everything a user of eddy needs.

#include <eddy/future/coro.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/future/task.hpp>
#include <eddy/io/address.hpp>
#include <eddy/io/error.hpp>
#include <eddy/io/socket.hpp>
#include <eddy/io/streams.hpp>
#include <eddy/io/transport.hpp>
#include <eddy/scheduler/compose.hpp>
#include <eddy/scheduler/event_loop.hpp>
#include <eddy/scheduler/executor.hpp>
#include <eddy/scheduler/handle.hpp>
#include <eddy/scheduler/queue.hpp>
#include <eddy/scheduler/run.hpp>
#include <eddy/scheduler/runtime.hpp>
#include <eddy/scheduler/sleep.hpp>
#include <eddy/scheduler/sync.hpp>
#include <eddy/scheduler/task_group.hpp>
#include <eddy/scheduler/timeout.hpp>
