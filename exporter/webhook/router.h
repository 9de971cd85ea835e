#pragma once
// One webhook listener for every account: {webhook.path}/{token} leads to the implicit account's
// receiver, {webhook.path}/{account}/{token} to that account's. The router is registered on the
// server once and looks the account up at each request, so that a reload can add and remove
// accounts (the server keeps routes for ever).

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "exporter/http/server.h"
#include "exporter/webhook/receiver.h"

namespace vpbx::webhook {

class Router {
 public:
  // The receivers now: either the implicit account's (`implicit`), or named accounts' by name.
  // `base_path` is webhook.path.
  void set(std::string base_path, std::shared_ptr<Receiver> implicit,
           std::map<std::string, std::shared_ptr<Receiver>> accounts);
  // Answers one request; never throws. An unknown account is the same 404 as a wrong token.
  http::Response handle(const http::Request& request) const;
  // Registers handle() for the current base path and everything below it, every method, public
  // and quick (see Receiver::register_routes); once per path. The Router must outlive the
  // server's use of the routes.
  void register_routes(http::Server& server);

 private:
  struct Routes {
    std::string base_path;
    std::shared_ptr<Receiver> implicit;
    std::map<std::string, std::shared_ptr<Receiver>, std::less<>> accounts;
  };
  mutable std::mutex mutex_;
  std::shared_ptr<const Routes> routes_ = std::make_shared<Routes>();
  std::mutex registered_mutex_;
  std::set<std::pair<http::Server*, std::string>> registered_;
};

}  // namespace vpbx::webhook
