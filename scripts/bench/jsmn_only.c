/*
 * jsmn_only: the floor our mandated tokenizer sets for `waexport convert`.
 *
 * Reads a file of API pages, one JSON array per line, and runs jsmn over each
 * line with the same settings waexport uses (JSMN_STATIC, JSMN_STRICT,
 * JSMN_PARENT_LINKS) and one token array reused and grown across lines
 * (on JSMN_ERROR_NOMEM: double it and resume with the same parser, as the
 * jsmn maintainers advise). It only counts tokens: no decoding, no output.
 *
 * usage: jsmn_only FILE       prints "<lines> lines, <tokens> tokens"
 * Build: cc -O2 -o jsmn_only jsmn_only.c
 */
#define _POSIX_C_SOURCE 200809L
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: jsmn_only FILE\n");
        return 64;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "jsmn_only: %s: %s\n", argv[1], strerror(errno));
        return 66;
    }
    static char iobuf[1 << 17];
    setvbuf(in, iobuf, _IOFBF, sizeof iobuf);

    unsigned int cap = 1024;
    jsmntok_t *tok = malloc(cap * sizeof *tok);
    char *line = NULL;
    size_t line_cap = 0;
    unsigned long long lines = 0, tokens = 0;
    ssize_t len;
    int rc = 0;

    if (!tok) {
        fprintf(stderr, "jsmn_only: out of memory\n");
        return 70;
    }
    while ((len = getline(&line, &line_cap, in)) != -1) {
        lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        jsmn_parser p;
        jsmn_init(&p);
        int r;
        for (;;) {
            r = jsmn_parse(&p, line, (size_t)len, tok, cap);
            if (r != JSMN_ERROR_NOMEM)
                break;
            jsmntok_t *bigger = realloc(tok, 2 * (size_t)cap * sizeof *tok);
            if (!bigger) {
                fprintf(stderr, "jsmn_only: out of memory\n");
                rc = 70;
                goto out;
            }
            tok = bigger;
            cap *= 2;
        }
        if (r < 0) {
            fprintf(stderr, "jsmn_only: line %llu: jsmn error %d\n", lines, r);
            rc = 65;
            goto out;
        }
        tokens += (unsigned long long)r;
    }
    if (ferror(in)) {
        fprintf(stderr, "jsmn_only: %s: read error\n", argv[1]);
        rc = 74;
        goto out;
    }
    printf("%llu lines, %llu tokens\n", lines, tokens);
out:
    free(line);
    free(tok);
    fclose(in);
    return rc;
}
