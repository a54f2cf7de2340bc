// libmicrohttpd for `vigil-centre exporter`. MHD_start_daemon and MHD_get_daemon_info are
// variadic (options as a list ended by MHD_OPTION_END), which Swift cannot call: these two
// static inline shims name the only options the exporter passes.
#include <stdint.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <microhttpd.h>

/// A daemon with no thread of its own (MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD):
/// its one epoll descriptor is polled by the caller's loop, which calls MHD_run when it is
/// readable and when MHD_get_timeout says so. `addr` is the listening address; at most
/// `connections` clients at once, each dropped after `timeout_s` idle seconds.
static inline struct MHD_Daemon *vigil_mhd_start(const struct sockaddr *addr,
                                                 unsigned int connections,
                                                 unsigned int timeout_s,
                                                 MHD_AccessHandlerCallback handler,
                                                 void *handler_cls) {
  return MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler,
                          handler_cls, MHD_OPTION_SOCK_ADDR, addr,
                          MHD_OPTION_CONNECTION_LIMIT, connections,
                          MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_END);
}

/// The daemon's epoll descriptor, or -1.
static inline int vigil_mhd_epoll_fd(struct MHD_Daemon *d) {
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
  return info ? info->epoll_fd : -1;
}
