// Thin wrappers over OpenSSL 3's libcrypto, so Swift calls plain functions with fixed-size buffers instead of the
// EVP object lifecycle. Every function returns 1 on success and 0 on any failure, and frees what it allocated.
#include "CCryptoShim.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

int gantry_sha256(const uint8_t *data, size_t length, uint8_t *digest) {
    return SHA256(data, length, digest) != NULL;
}

int gantry_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data, size_t length, uint8_t *mac) {
    unsigned int mac_length = 0;
    if (HMAC(EVP_sha256(), key, (int)key_length, data, length, mac, &mac_length) == NULL) return 0;
    return mac_length == 32;
}

int gantry_random_bytes(uint8_t *out, size_t length) {
    return RAND_bytes(out, (int)length) == 1;
}

void *gantry_ed25519_key_new(const uint8_t *seed) {
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

void gantry_ed25519_key_free(void *key) {
    EVP_PKEY_free((EVP_PKEY *)key);
}

int gantry_ed25519_key_public(void *key, uint8_t *public_key) {
    size_t length = 32;
    return EVP_PKEY_get_raw_public_key((EVP_PKEY *)key, public_key, &length) == 1 && length == 32;
}

int gantry_ed25519_key_sign(void *key, const uint8_t *message, size_t length, uint8_t *signature) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    size_t signature_length = 64;
    int ok = context != NULL
        && EVP_DigestSignInit(context, NULL, NULL, NULL, (EVP_PKEY *)key) == 1
        && EVP_DigestSign(context, signature, &signature_length, message, length) == 1
        && signature_length == 64;
    EVP_MD_CTX_free(context);
    return ok;
}

int gantry_ed25519_verify(const uint8_t *public_key, const uint8_t *message, size_t length, const uint8_t *signature) {
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, 32);
    if (key == NULL) return 0;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context != NULL
        && EVP_DigestVerifyInit(context, NULL, NULL, NULL, key) == 1
        && EVP_DigestVerify(context, signature, 64, message, length) == 1;
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return ok;
}

int gantry_constant_time_equal(const uint8_t *a, const uint8_t *b, size_t length) {
    return CRYPTO_memcmp(a, b, length) == 0;
}
