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

/// The Ed25519 public key (32 bytes) of a private seed (32 bytes). Returns 1 on success.
int gantry_ed25519_public_key(const uint8_t *seed, uint8_t *public_key);

/// A detached Ed25519 signature (64 bytes) over `length` bytes with the private seed. Returns 1 on success.
int gantry_ed25519_sign(const uint8_t *seed, const uint8_t *message, size_t length, uint8_t *signature);

/// 1 when `signature` (64 bytes) is a valid Ed25519 signature of the message under `public_key` (32 bytes), else 0.
int gantry_ed25519_verify(const uint8_t *public_key, const uint8_t *message, size_t length, const uint8_t *signature);

/// Compares two buffers of equal length in constant time: 1 when equal.
int gantry_constant_time_equal(const uint8_t *a, const uint8_t *b, size_t length);

#endif
