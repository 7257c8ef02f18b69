// Fuzz target: bytes from the network. The first byte picks the message type a worker or the
// coordinator would decode; the rest is decoded with the wire limits. Properties: whatever
// decodes re-encodes to a message that decodes to the same value, and a hello is only ever
// admitted with the right token and protocol version.
#include "coordinator/worker_admission.hpp"
#include "protocol/codec.hpp"
#include "tests/fuzz/fuzz_target.hpp"

namespace {

template <class T>
void round_trip(std::string_view bytes) {
  auto decoded = br::decode<T>(bytes);
  if (!decoded) return;
  const std::string again = br::encode(*decoded);
  auto back = br::decode<T>(again);
  BR_FUZZ_CHECK(back.ok());
  BR_FUZZ_CHECK(*back == *decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes = br::fuzz::bytes(data + 1, size - 1);
  switch (data[0] % 10) {
    case 0: {
      round_trip<br::WorkerHello>(bytes);
      auto hello = br::decode<br::WorkerHello>(bytes);
      if (hello) {
        const auto reply = br::admit(*hello, "the-token", "run-1");
        BR_FUZZ_CHECK(!reply.accepted || (hello->token == "the-token" &&
                                          hello->protocol_version == br::kProtocolVersion));
      }
      break;
    }
    case 1: round_trip<br::WorkRequest>(bytes); break;
    case 2: round_trip<br::TaskProgress>(bytes); break;
    case 3: round_trip<br::TaskResult>(bytes); break;
    case 4: round_trip<br::Batch>(bytes); break;
    case 5: round_trip<br::HelloReply>(bytes); break;
    case 6: round_trip<br::ReadyTasks>(bytes); break;
    case 8: round_trip<br::ObjectsRequest>(bytes); break;
    case 9: round_trip<br::ObjectsChunk>(bytes); break;
    default: round_trip<br::Plan>(bytes); break;
  }
  return 0;
}
