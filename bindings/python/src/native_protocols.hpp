// bindings/python/src/native_protocols.hpp — C++ protocols from protocols/ served from Python:
// the Python-visible protocol objects and the adapter that runs them with no Python per read.
// Tests: tests/python/test_native_protocols.py
#pragma once

#include <memory>

#include "common.hpp"
#include "treadle/core/protocol.hpp"

namespace treadle::py {

class LoopCore;

/**
 * If `protocol` is one of treadle.protocols' native protocol objects (`Echo`, `Discard`),
 * the stream protocol to give the transport: the C++ protocol itself behind a thin forwarder
 * that keeps the Python object alive and does the Python-side bookkeeping once, at
 * `connection_lost` (the transport object, the server's connection count `on_lost`).
 * Returns null for any other object. Throws `PyCallbackError` if the object is already
 * attached to a transport (one protocol instance serves one connection).
 */
std::shared_ptr<StreamProtocol> make_native_adapter(LoopCore* core, const PyRef& protocol,
                                                    PyRef on_lost);

/// Registers `NativeProtocol`, `Echo` and `Discard` with Boost.Python (in `_treadle`).
void register_native_protocols();

}  // namespace treadle::py
