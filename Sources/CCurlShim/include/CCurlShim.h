#ifndef CCURLSHIM_H
#define CCURLSHIM_H

// Typed, non-variadic doors into libcurl's variadic setopt/getinfo calls.
// Swift cannot call C variadic functions, so each argument type that the
// Egress module passes gets its own small wrapper here.

#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Sets a `long` option (flags, millisecond timeouts, sizes that fit a long).
CURLcode ccurl_setopt_long(CURL *handle, CURLoption option, long value);

/// Sets a `curl_off_t` option (the *_LARGE size options).
CURLcode ccurl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);

/// Sets a string option; libcurl copies the string, so it may be freed afterwards.
CURLcode ccurl_setopt_string(CURL *handle, CURLoption option, const char *value);

/// Sets an opaque pointer option (the *DATA user pointers handed to callbacks).
CURLcode ccurl_setopt_pointer(CURL *handle, CURLoption option, void *value);

/// Sets a list option (HTTPHEADER, RESOLVE); the list must outlive the transfer.
CURLcode ccurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);

/// Sets CURLOPT_WRITEFUNCTION or CURLOPT_HEADERFUNCTION (they share a signature).
CURLcode ccurl_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback);

/// Sets CURLOPT_XFERINFOFUNCTION.
CURLcode ccurl_setopt_xferinfo_callback(CURL *handle, curl_xferinfo_callback callback);

/// Sets CURLOPT_OPENSOCKETFUNCTION.
CURLcode ccurl_setopt_opensocket_callback(CURL *handle, curl_opensocket_callback callback);

/// Reads a `long` info value such as CURLINFO_RESPONSE_CODE.
CURLcode ccurl_getinfo_long(CURL *handle, CURLINFO info, long *value);

/// Reads a string info value; the string belongs to the handle.
CURLcode ccurl_getinfo_string(CURL *handle, CURLINFO info, char **value);

/// Byte offset of the socket address inside `struct curl_sockaddr`, so Swift
/// can read the full sockaddr_in6 that libcurl stores past the declared field.
size_t ccurl_sockaddr_offset(void);

#ifdef __cplusplus
}
#endif

#endif
