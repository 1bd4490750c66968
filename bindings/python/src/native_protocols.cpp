// bindings/python/src/native_protocols.cpp — treadle.protocols.Echo/Discard: C++ protocols
// whose data path never enters Python.
// Tests: tests/python/test_native_protocols.py
#include "native_protocols.hpp"

#include <boost/python.hpp>
#include <utility>

#include "py_protocol.hpp"
#include "treadle/protocols/discard.hpp"
#include "treadle/protocols/echo.hpp"

namespace bp = boost::python;

namespace treadle::py {
namespace {

/// The C++ side of a Python `NativeProtocol` object: the protocol and whether a transport
/// uses it already.
struct NativeHolder {
  explicit NativeHolder(std::shared_ptr<Protocol> p) : protocol(std::move(p)) {}
  virtual ~NativeHolder() = default;
  std::shared_ptr<Protocol> protocol;
  bool attached = false;
};

struct EchoHolder : NativeHolder {
  EchoHolder() : NativeHolder(std::make_shared<Echo>()) {}
  std::uint64_t bytes_echoed() const { return static_cast<Echo&>(*protocol).bytes_echoed(); }
};

struct DiscardHolder : NativeHolder {
  DiscardHolder() : NativeHolder(std::make_shared<Discard>()) {}
  std::uint64_t bytes_received() const { return static_cast<Discard&>(*protocol).bytes_received(); }
};

/// Forwards every callback to the C++ protocol; Python runs only when the connection ends.
class NativeAdapter final : public Protocol, public PyProtocolCore {
 public:
  NativeAdapter(LoopCore* core, PyRef object, NativeHolder* holder, PyRef on_lost)
      : PyProtocolCore(core, std::move(object), std::move(on_lost)),
        holder_(holder),
        inner_(holder->protocol) {
    holder_->attached = true;
  }
  void connection_made(Transport& transport) override { inner_->connection_made(transport); }
  void data_received(ConstBuffer data) override { inner_->data_received(data); }
  bool eof_received() override { return inner_->eof_received(); }
  void pause_writing() override { inner_->pause_writing(); }
  void resume_writing() override { inner_->resume_writing(); }
  void connection_lost(std::error_code error) override {
    holder_->attached = false;  // the Python object (protocol_) keeps holder_ alive until here
    inner_->connection_lost(error);
    released();
  }

 private:
  NativeHolder* holder_;
  std::shared_ptr<Protocol> inner_;
};

}  // namespace

std::shared_ptr<StreamProtocol> make_native_adapter(LoopCore* core, const PyRef& protocol,
                                                    PyRef on_lost) {
  bp::extract<NativeHolder&> holder(protocol.get());
  if (!holder.check()) {
    PyErr_Clear();
    return nullptr;
  }
  NativeHolder& h = holder();
  if (h.attached) {
    PyErr_Format(PyExc_RuntimeError,
                 "%R is already attached to a transport (a protocol "
                 "instance serves one connection)",
                 protocol.get());
    throw PyCallbackError(fetch_exception(), {}, protocol);
  }
  return std::make_shared<NativeAdapter>(core, protocol, &h, std::move(on_lost));
}

void register_native_protocols() {
  bp::class_<NativeHolder, boost::noncopyable>(
      "NativeProtocol",
      "A protocol implemented in C++ (treadle's protocols/ layer). Pass the class as the "
      "protocol factory of create_server/create_connection (or return an instance from a "
      "factory): the connection's bytes then never enter Python. One instance serves one "
      "connection.",
      bp::no_init)
      .add_property(
          "connected", +[](const NativeHolder& h) { return h.attached; },
          "True while a transport uses this protocol.");
  bp::class_<EchoHolder, bp::bases<NativeHolder>, boost::noncopyable>(
      "Echo",
      "Writes back every byte it receives (treadle::Echo). Pauses reading while the "
      "transport's write buffer is above its high-water mark; closes after echoing once the "
      "peer half-closes.",
      bp::init<>())
      .add_property("bytes_echoed", &EchoHolder::bytes_echoed, "Bytes written back so far.");
  bp::class_<DiscardHolder, bp::bases<NativeHolder>, boost::noncopyable>(
      "Discard", "Reads and drops every byte, counting them (treadle::Discard).", bp::init<>())
      .add_property("bytes_received", &DiscardHolder::bytes_received, "Bytes received so far.");
}

}  // namespace treadle::py
