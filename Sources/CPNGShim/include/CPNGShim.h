/*
 * CPNGShim: the parts of PNG decoding and encoding that need libpng's full
 * API. libpng reports errors with longjmp, which Swift cannot survive, so
 * every entry point here owns its setjmp and turns a libpng error into a
 * return code plus a message in a caller-supplied buffer.
 *
 * This header deliberately does not include <png.h>: Swift callers only see
 * plain C types, so the libpng macros that Swift cannot import never matter.
 */
#ifndef CPNGSHIM_H
#define CPNGSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes shared by every function below. */
enum {
    CPNG_OK = 0,
    CPNG_ERR_LIBPNG = 1,   /* libpng rejected the data; errbuf holds its reason */
    CPNG_ERR_ARGUMENT = 2  /* the caller's buffers or dimensions do not fit */
};

/* Size callers should give errbuf; longer messages are truncated. */
#define CPNG_ERRBUF_SIZE 256

/*
 * Reads the signature, IHDR and every chunk up to the first IDAT, without
 * decoding pixels. has_alpha is 1 when the colour type carries alpha or a
 * valid tRNS chunk is present. Ancillary chunks are skipped unread, so a
 * huge zTXt/iCCP chunk costs only a CRC pass.
 */
int cpng_read_header(const uint8_t *bytes, size_t len,
                     uint32_t *width, uint32_t *height, int *has_alpha,
                     char *errbuf, size_t errbuf_len);

/*
 * Decodes to 8-bit RGB (channels 3) or RGBA (channels 4): 16-bit samples keep
 * their high byte, palettes and low-depth gray expand, tRNS becomes alpha,
 * gray is replicated. No gamma or colour management is applied.
 * width/height must be the values cpng_read_header returned (the caller has
 * already checked them against its limits), and out_len must equal
 * width * height * channels. Rows are written straight into out.
 */
int cpng_decode(const uint8_t *bytes, size_t len,
                uint32_t width, uint32_t height, int channels,
                uint8_t *out, size_t out_len,
                char *errbuf, size_t errbuf_len);

/*
 * Encodes 8-bit gray (1), gray+alpha (2), RGB (3) or RGBA (4) pixels, tightly
 * packed. On success *out holds a malloc'd buffer of *out_len bytes that the
 * caller must release with cpng_free.
 */
int cpng_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                int channels, int compression_level,
                uint8_t **out, size_t *out_len,
                char *errbuf, size_t errbuf_len);

/* Releases a buffer returned by cpng_encode. */
void cpng_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif /* CPNGSHIM_H */
