#include "exporter/webhook/router.h"

#include <string_view>

#include "exporter/log/log.h"

namespace vpbx::webhook {

void Router::set(std::string base_path, std::shared_ptr<Receiver> implicit,
                 std::map<std::string, std::shared_ptr<Receiver>> accounts) {
  auto next = std::make_shared<Routes>();
  next->base_path = std::move(base_path);
  next->implicit = std::move(implicit);
  next->accounts.insert(accounts.begin(), accounts.end());
  std::lock_guard lock(mutex_);
  routes_ = std::move(next);
}

http::Response Router::handle(const http::Request& request) const {
  try {
    std::shared_ptr<const Routes> routes;
    {
      std::lock_guard lock(mutex_);
      routes = routes_;
    }
    if (routes->implicit) return routes->implicit->handle(request);
    // {base}/{account}/...: the receiver checks the rest (token, method, body) as for one account.
    std::string_view path(request.path);
    if (path.size() > routes->base_path.size() + 1 && path.starts_with(routes->base_path) &&
        path[routes->base_path.size()] == '/') {
      path.remove_prefix(routes->base_path.size() + 1);
      const auto account = path.substr(0, path.find('/'));
      if (const auto it = routes->accounts.find(account); it != routes->accounts.end()) {
        log::AccountScope scope(it->first);
        return it->second->handle(request);
      }
    }
  } catch (...) {
    return http::Response::text(500, "Internal Server Error\n");
  }
  return http::Response::text(404, "404 page not found\n");
}

void Router::register_routes(http::Server& server) {
  std::string path;
  {
    std::lock_guard lock(mutex_);
    path = routes_->base_path;
  }
  if (path.empty()) return;
  std::lock_guard lock(registered_mutex_);
  if (!registered_.emplace(&server, path).second) return;
  for (const char* method : {"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    server.route_prefix(
        method, path, [this](const http::Request& r) { return handle(r); },
        http::Server::Access::public_route, http::Server::Cost::quick);
  }
}

}  // namespace vpbx::webhook
