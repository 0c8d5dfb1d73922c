/*
 * PNG decode/encode on libpng's full API. The simplified png_image API was
 * not used for reading because it may apply gamma conversion when reducing
 * 16-bit samples; this file asks for exactly the transforms that reproduce
 * Pillow's values (see CPNGShim.h).
 */
#include "CPNGShim.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest ancillary chunk libpng may buffer or inflate. We skip ancillary
 * chunks anyway; this bounds anything that still gets buffered. */
#define CPNG_CHUNK_MALLOC_MAX (4u * 1024u * 1024u)
/* Most ancillary chunks libpng may keep; a flood of them is refused. */
#define CPNG_CHUNK_CACHE_MAX 256u

/* Where errors go: a caller buffer. libpng's own jmp_buf does the jump. */
typedef struct {
    char *buf;
    size_t len;
} cpng_errctx;

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} cpng_reader;

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} cpng_writer;

static void cpng_set_message(char *buf, size_t len, const char *message) {
    if (buf == NULL || len == 0) return;
    snprintf(buf, len, "%s", message);
}

static void cpng_error_fn(png_structp png, png_const_charp message) {
    cpng_errctx *ctx = (cpng_errctx *)png_get_error_ptr(png);
    if (ctx != NULL) cpng_set_message(ctx->buf, ctx->len, message);
    png_longjmp(png, 1);
}

/* Warnings (bad ancillary CRCs, extra IDAT data, ...) do not stop decoding,
 * matching Pillow, which also tolerates them. */
static void cpng_warning_fn(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void cpng_read_fn(png_structp png, png_bytep out, size_t count) {
    cpng_reader *reader = (cpng_reader *)png_get_io_ptr(png);
    if (count > reader->len - reader->pos) {
        png_error(png, "unexpected end of PNG data (file is truncated)");
    }
    memcpy(out, reader->data + reader->pos, count);
    reader->pos += count;
}

static void cpng_write_fn(png_structp png, png_bytep bytes, size_t count) {
    cpng_writer *writer = (cpng_writer *)png_get_io_ptr(png);
    if (count > writer->cap - writer->len) {
        size_t cap = writer->cap ? writer->cap : 4096;
        while (cap - writer->len < count) {
            if (cap > SIZE_MAX / 2) png_error(png, "PNG output too large");
            cap *= 2;
        }
        uint8_t *grown = realloc(writer->data, cap);
        if (grown == NULL) png_error(png, "out of memory growing PNG output");
        writer->data = grown;
        writer->cap = cap;
    }
    memcpy(writer->data + writer->len, bytes, count);
    writer->len += count;
}

static void cpng_flush_fn(png_structp png) { (void)png; }

/* Chunks we never use. Listing them as "unknown, never keep" makes libpng
 * skip their bodies instead of parsing or inflating them, which is what
 * defuses zTXt/iCCP decompression bombs and keeps gAMA/iCCP from ever
 * influencing pixel values. */
static const png_byte cpng_ignored_chunks[] = {
    98,  75,  71,  68, '\0', /* bKGD */
    99,  72,  82,  77, '\0', /* cHRM */
    101, 88,  73,  102, '\0', /* eXIf */
    103, 65,  77,  65, '\0', /* gAMA */
    104, 73,  83,  84, '\0', /* hIST */
    105, 67,  67,  80, '\0', /* iCCP */
    105, 84,  88,  116, '\0', /* iTXt */
    111, 70,  70,  115, '\0', /* oFFs */
    112, 67,  65,  76, '\0', /* pCAL */
    112, 72,  89,  115, '\0', /* pHYs */
    115, 66,  73,  84, '\0', /* sBIT */
    115, 67,  65,  76, '\0', /* sCAL */
    115, 80,  76,  84, '\0', /* sPLT */
    115, 82,  71,  66, '\0', /* sRGB */
    116, 69,  88,  116, '\0', /* tEXt */
    116, 73,  77,  69, '\0', /* tIME */
    122, 84,  88,  116, '\0', /* zTXt */
};

/* Common read-side configuration; must run after setjmp is armed. */
static void cpng_configure_read(png_structp png, cpng_reader *reader,
                                png_uint_32 max_side) {
    png_set_read_fn(png, reader, cpng_read_fn);
    png_set_user_limits(png, max_side, max_side);
    png_set_chunk_malloc_max(png, CPNG_CHUNK_MALLOC_MAX);
    png_set_chunk_cache_max(png, CPNG_CHUNK_CACHE_MAX);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, cpng_ignored_chunks,
                                (int)(sizeof(cpng_ignored_chunks) / 5));
}

static int cpng_check_signature(const uint8_t *bytes, size_t len,
                                char *errbuf, size_t errbuf_len) {
    if (bytes == NULL || len < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
        cpng_set_message(errbuf, errbuf_len, "not a PNG signature");
        return CPNG_ERR_LIBPNG;
    }
    return CPNG_OK;
}

static int cpng_has_alpha(png_structp png, png_infop info) {
    int color_type = png_get_color_type(png, info);
    return (color_type & PNG_COLOR_MASK_ALPHA) != 0 ||
           png_get_valid(png, info, PNG_INFO_tRNS) != 0;
}

int cpng_read_header(const uint8_t *bytes, size_t len,
                     uint32_t *width, uint32_t *height, int *has_alpha,
                     char *errbuf, size_t errbuf_len) {
    int rc = cpng_check_signature(bytes, len, errbuf, errbuf_len);
    if (rc != CPNG_OK) return rc;
    cpng_errctx ctx = {errbuf, errbuf_len};
    cpng_reader reader = {bytes, len, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx,
                                             cpng_error_fn, cpng_warning_fn);
    if (png == NULL) {
        cpng_set_message(errbuf, errbuf_len, "could not create libpng reader");
        return CPNG_ERR_LIBPNG;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        if (info == NULL) cpng_set_message(errbuf, errbuf_len, "out of memory");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return CPNG_ERR_LIBPNG;
    }
    /* Any legal PNG size passes here so that the caller, not libpng, decides
     * what is too large and can report it as such. */
    cpng_configure_read(png, &reader, PNG_UINT_31_MAX);
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    *has_alpha = cpng_has_alpha(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return CPNG_OK;
}

int cpng_decode(const uint8_t *bytes, size_t len,
                uint32_t width, uint32_t height, int channels,
                uint8_t *out, size_t out_len,
                char *errbuf, size_t errbuf_len) {
    if ((channels != 3 && channels != 4) || width == 0 || height == 0 ||
        out == NULL || out_len / height / width != (size_t)channels ||
        out_len % ((size_t)width * height) != 0) {
        cpng_set_message(errbuf, errbuf_len, "output buffer does not match the image size");
        return CPNG_ERR_ARGUMENT;
    }
    int rc = cpng_check_signature(bytes, len, errbuf, errbuf_len);
    if (rc != CPNG_OK) return rc;
    cpng_errctx ctx = {errbuf, errbuf_len};
    cpng_reader reader = {bytes, len, 0};
    /* Modified after setjmp and read after longjmp, hence volatile. */
    png_bytep *volatile rows = NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx,
                                             cpng_error_fn, cpng_warning_fn);
    if (png == NULL) {
        cpng_set_message(errbuf, errbuf_len, "could not create libpng reader");
        return CPNG_ERR_LIBPNG;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        if (info == NULL) cpng_set_message(errbuf, errbuf_len, "out of memory");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(rows);
        return CPNG_ERR_LIBPNG;
    }
    /* The caller already vetted these dimensions; anything larger in the
     * IHDR this time means the data changed under us. */
    cpng_configure_read(png, &reader, width > height ? width : height);
    png_read_info(png, info);
    if (png_get_image_width(png, info) != width ||
        png_get_image_height(png, info) != height) {
        png_error(png, "PNG header changed between reads");
    }
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    int wants_alpha = cpng_has_alpha(png, info);
    if (bit_depth == 16) png_set_strip_16(png); /* keeps the high byte */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != channels ||
        png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)width * (size_t)channels ||
        wants_alpha != (channels == 4)) {
        png_error(png, "PNG transforms did not produce the expected layout");
    }
    rows = malloc(sizeof(png_bytep) * height);
    if (rows == NULL) png_error(png, "out of memory for row pointers");
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) rows[y] = out + stride * y;
    png_read_image(png, rows);
    /* png_read_end is skipped on purpose: the pixels are complete, and a
     * missing IEND or trailing junk should not fail an otherwise good file. */
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    return CPNG_OK;
}

int cpng_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                int channels, int compression_level,
                uint8_t **out, size_t *out_len,
                char *errbuf, size_t errbuf_len) {
    static const int color_types[5] = {
        -1, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
        PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (pixels == NULL || out == NULL || out_len == NULL || channels < 1 ||
        channels > 4 || width == 0 || height == 0 ||
        width > PNG_UINT_31_MAX || height > PNG_UINT_31_MAX) {
        cpng_set_message(errbuf, errbuf_len, "invalid image for PNG encoding");
        return CPNG_ERR_ARGUMENT;
    }
    *out = NULL;
    *out_len = 0;
    cpng_errctx ctx = {errbuf, errbuf_len};
    cpng_writer writer = {NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx,
                                              cpng_error_fn, cpng_warning_fn);
    if (png == NULL) {
        cpng_set_message(errbuf, errbuf_len, "could not create libpng writer");
        return CPNG_ERR_LIBPNG;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        if (info == NULL) cpng_set_message(errbuf, errbuf_len, "out of memory");
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(writer.data);
        return CPNG_ERR_LIBPNG;
    }
    png_set_write_fn(png, &writer, cpng_write_fn, cpng_flush_fn);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    if (compression_level < 0 || compression_level > 9) compression_level = 6;
    png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, width, height, 8, color_types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) {
        /* libpng's row type is non-const but it does not write through it. */
        png_write_row(png, (png_bytep)(uintptr_t)(pixels + stride * y));
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = writer.data;
    *out_len = writer.len;
    return CPNG_OK;
}

void cpng_free(void *pointer) { free(pointer); }
