// Keeps the coordinator's port usable under hostile connections. It sees each connection as it
// is accepted (br's accept() hook, see connection_watch.cpp) and may refuse it at once; a thread
// scans the process's own sockets on the port a few times a second to find those that said no
// hello in time or have gone, asks the ConnectionLedger what to close, and shuts those sockets
// down. It never closes a socket CAF holds: shutdown() makes CAF's multiplexer see the end of
// the stream and release it its usual way, so no fd is closed under CAF's feet. The front actor
// tells it who said a good hello and who sent a wrong token. No CAF here.
#pragma once

#include <dirent.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/connection_ledger.hpp"

namespace br {

// "ADDRESS:PORT" for a peer, as both the scan and the front actor spell it (IPv4 addresses
// that arrive mapped into IPv6 are written as IPv4).
std::string peer_name(std::string address, std::uint16_t port);

// The accepted connections of the listening `port` in this process (the listening socket
// itself excluded), from `fds`, an open /proc/self/fd.
std::vector<SocketSighting> scan_own_sockets(std::uint16_t port, DIR* fds);

// Raises this process's soft limit on open files to its hard limit: a coordinator holds a
// socket per worker process plus what the run needs, and the common default of 1,024 is low.
void raise_open_file_limit();

// Asked by the accept() hook (connection_watch.cpp) for each connection accepted on `listener`.
bool keep_accepted(int listener, int fd);

class ConnectionWatch {
 public:
  using Log = std::function<void(const std::string&)>;

  // `log` gets the summary lines (from the watch's thread).
  ConnectionWatch(LedgerLimits limits, Log log);
  ~ConnectionWatch();
  ConnectionWatch(const ConnectionWatch&) = delete;
  ConnectionWatch& operator=(const ConnectionWatch&) = delete;

  // Starts the scans of `port` once it is bound (a port of 0 is only known then).
  void watch(std::uint16_t port);

  // Ends the scans (the destructor does too) and returns the summary of what was closed
  // since the last line, for the caller to print: the log callback is not called after.
  std::optional<std::string> stop();

  // From the accept hook, on CAF's multiplexer thread: whether to keep connection `fd` just
  // accepted on `listener` (see ConnectionLedger::accepted).
  bool on_accept(int listener, int fd);

  void admitted(const std::string& peer);
  int bad_token(const std::string& peer);  // see ConnectionLedger::bad_token
  bool disconnected(const std::string& peer);

  static constexpr std::chrono::milliseconds kScanEvery{200};

 private:
  void run();
  // One scan and its closings, and the summary if one is due (every kScanEvery).
  void scan_now();
  static void shut_down(const Closing& closing);

  std::uint16_t port_ = 0;
  DIR* fds_ = nullptr;  // /proc/self/fd
  std::size_t fd_limit_ = 0;
  Log log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  ConnectionLedger ledger_;
  std::thread thread_;
};

}  // namespace br
