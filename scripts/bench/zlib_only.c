/*
 * zlib_only: zlib alone on the bytes waexport gzips.
 *
 * Reads IN in 128 KiB chunks and writes OUT as one gzip member, deflate level
 * 6 (deflateInit2 windowBits 15+16, memLevel 8, default strategy) -- the same
 * zlib settings as `waexport ... -o x.csv.gz`. Fed waexport's own CSV, its
 * time is what compression alone costs on that output.
 *
 * usage: zlib_only IN OUT [LEVEL]
 * Build: cc -O2 -o zlib_only zlib_only.c -lz
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK (128 * 1024)

static unsigned char inbuf[CHUNK];
static unsigned char outbuf[CHUNK];

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: zlib_only IN OUT [LEVEL]\n");
        return 64;
    }
    int level = argc == 4 ? atoi(argv[3]) : 6;
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "zlib_only: %s: %s\n", argv[1], strerror(errno));
        return 66;
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        fprintf(stderr, "zlib_only: %s: %s\n", argv[2], strerror(errno));
        fclose(in);
        return 73;
    }
    setvbuf(in, NULL, _IONBF, 0);
    setvbuf(out, NULL, _IONBF, 0);

    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fprintf(stderr, "zlib_only: deflateInit2 failed\n");
        return 70;
    }
    int flush, rc = 0;
    do {
        size_t n = fread(inbuf, 1, CHUNK, in);
        if (ferror(in)) {
            fprintf(stderr, "zlib_only: %s: read error\n", argv[1]);
            rc = 74;
            goto out;
        }
        flush = feof(in) ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = inbuf;
        z.avail_in = (uInt)n;
        do {
            z.next_out = outbuf;
            z.avail_out = CHUNK;
            int zr = deflate(&z, flush);
            if (zr == Z_STREAM_ERROR) {
                fprintf(stderr, "zlib_only: deflate: stream error\n");
                rc = 70;
                goto out;
            }
            size_t have = CHUNK - z.avail_out;
            if (have && fwrite(outbuf, 1, have, out) != have) {
                fprintf(stderr, "zlib_only: %s: write error\n", argv[2]);
                rc = 74;
                goto out;
            }
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    printf("%lu bytes in, %lu bytes out\n", z.total_in, z.total_out);
out:
    deflateEnd(&z);
    fclose(in);
    if (fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "zlib_only: %s: close failed\n", argv[2]);
        rc = 74;
    }
    return rc;
}
