#pragma once
// mg_stop() waits for CivetWeb's accept loop, which polls with a 2 s quantum; a connection
// wakes it at once. The simulator stops often in tests.

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace vpbx::http {

inline void stop_civetweb(mg_context* context, int port) {
  std::atomic<bool> stopped{false};
  std::thread poker([&stopped, port] {
    while (!stopped.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (stopped.load() || port <= 0) continue;
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) continue;
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<std::uint16_t>(port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
      ::close(fd);
    }
  });
  mg_stop(context);
  stopped = true;
  poker.join();
}

}  // namespace vpbx::http
