#ifndef BATON_CMHDSHIM_H
#define BATON_CMHDSHIM_H

#include <microhttpd.h>
#include <stdint.h>

/// Called once the request line of a request is in (MHD_OPTION_URI_LOG_CALLBACK); the
/// return value becomes the request's first `*con_cls`, so it must return NULL here.
typedef void *(*baton_mhd_uri_callback)(void *cls, const char *uri, struct MHD_Connection *connection);

/// Receives libmicrohttpd's own error messages, already formatted (MHD_OPTION_EXTERNAL_LOGGER
/// passes a format and a va_list, which Swift cannot take).
typedef void (*baton_mhd_message_callback)(void *cls, const char *message);

/// Settings for baton_mhd_start; plain values so Swift can fill the struct.
struct baton_mhd_settings {
    const struct sockaddr *address;      /* IPv4 or IPv6 listen address (port inside) */
    unsigned int thread_pool_size;       /* worker threads, each with its own poll loop */
    unsigned int connection_timeout_s;   /* idle connections are closed after this */
    unsigned int connection_limit;       /* total concurrent connections */
    size_t connection_memory_limit;      /* per-connection buffer for headers */
    unsigned int listen_backlog;
    int use_epoll;                       /* 1: epoll per worker; 0: poll (see HTTPServer.swift) */
    /* Optional (NULL: not set): connection opened/closed, request line received. */
    MHD_NotifyConnectionCallback notify_connection;
    void *notify_connection_cls;
    baton_mhd_uri_callback uri_received;
    void *uri_received_cls;
    baton_mhd_message_callback message;  /* NULL: libmicrohttpd writes to stderr itself */
    void *message_cls;
};

/// Starts a daemon with an internal thread pool. MHD_start_daemon is C-variadic
/// and Swift cannot call it; this wrapper passes every option through MHD_OPTION_ARRAY.
struct MHD_Daemon *baton_mhd_start(const struct baton_mhd_settings *settings,
                                   MHD_AccessHandlerCallback handler, void *handler_cls,
                                   MHD_RequestCompletedCallback completed, void *completed_cls);

/// Adds a header to a response; returns 1 on success. A thin non-macro wrapper.
int baton_mhd_add_header(struct MHD_Response *response, const char *name, const char *value);

/// The port a daemon is bound to (MHD_get_daemon_info is variadic); 0 if unknown.
uint16_t baton_mhd_bound_port(struct MHD_Daemon *daemon);

/// A connection's socket descriptor (MHD_get_connection_info is variadic); -1 if unknown.
int baton_mhd_connection_fd(struct MHD_Connection *connection);

/// The socket context set by the MHD_OPTION_NOTIFY_CONNECTION callback; NULL if none.
void *baton_mhd_socket_context(struct MHD_Connection *connection);
/* glibc's malloc_trim(0): gives the free pages of every arena back to the system
   (malloc.h is not part of Swift's Glibc module). 0 elsewhere. */
int baton_heap_trim(void);

#endif
