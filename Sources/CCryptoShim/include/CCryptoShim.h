#ifndef GANTRY_CCRYPTOSHIM_H
#define GANTRY_CCRYPTOSHIM_H

#include <stddef.h>
#include <stdint.h>

/// SHA-256 of `length` bytes into `digest` (32 bytes). Returns 1 on success.
int gantry_sha256(const uint8_t *data, size_t length, uint8_t *digest);

/// HMAC-SHA-256 into `mac` (32 bytes). Returns 1 on success.
int gantry_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data, size_t length, uint8_t *mac);

/// Fills `out` with `length` bytes from the operating system's CSPRNG (through OpenSSL). Returns 1 on success.
int gantry_random_bytes(uint8_t *out, size_t length);

/// An Ed25519 private key loaded once from its 32-byte seed (its public key derived), for any number of
/// signatures from any thread; NULL on failure. Free it with `gantry_ed25519_key_free`.
void *gantry_ed25519_key_new(const uint8_t *seed);

/// Frees a key from `gantry_ed25519_key_new`.
void gantry_ed25519_key_free(void *key);

/// The key's Ed25519 public key (32 bytes). Returns 1 on success.
int gantry_ed25519_key_public(void *key, uint8_t *public_key);

/// A detached Ed25519 signature (64 bytes) over `length` bytes with a loaded key. Returns 1 on success.
int gantry_ed25519_key_sign(void *key, const uint8_t *message, size_t length, uint8_t *signature);

/// 1 when `signature` (64 bytes) is a valid Ed25519 signature of the message under `public_key` (32 bytes), else 0.
int gantry_ed25519_verify(const uint8_t *public_key, const uint8_t *message, size_t length, const uint8_t *signature);

/// Compares two buffers of equal length in constant time: 1 when equal.
int gantry_constant_time_equal(const uint8_t *a, const uint8_t *b, size_t length);

#endif
