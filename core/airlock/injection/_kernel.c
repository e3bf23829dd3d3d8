/* The learned detector's run-time scorer in one pass (see _scoring.py, the numpy reference).
 *
 * Plain C, no Python headers: loaded with ctypes (_kernel.py). It computes exactly the buckets of
 * _features.extract (same polynomial hashes, salts, bucket mix and null-run rule) and the same
 * floats as WindowScorer.best_numpy: per-position weights added order by order, running sums
 * added left to right, numpy's pairwise sums where numpy sums a row, windows at multiples of
 * win / 2 plus the one ending the text. tests/unit/test_learned_kernel.py holds it to that.
 * Also the leetspeak fold of an ASCII text (_leet.py), held to its regex definition by
 * tests/unit/test_injection_leet.py.
 *
 * Memory: every index into the weights is a bucket below 2**bits (or the padding bucket 2**bits
 * when the caller says the array has it); scratch buffers are allocated here and freed on every
 * path. Parameters out of range return -1, and the caller scores with numpy. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ORDER 16

/* bumped with every change of what the functions compute: _kernel.py refuses a stale build */
int airlock_kernel_version(void) { return 3; }

typedef struct {
    double z;
    int64_t start, end, words, windows;
} airlock_best_t;

typedef struct {
    const uint32_t *cp;
    int64_t n;
    const double *w;
    int bits, version;
    const int32_t *corders, *worders;
    int nco, nwo, cmax, wmax, nulls;
    const uint64_t *csalt, *wsalt;
    uint64_t bigram_k, null_bucket, pk[MAX_ORDER];
    char cused[MAX_ORDER + 1], wused[MAX_ORDER + 1];
    int64_t m;          /* words */
    int64_t *wstart;    /* word starts */
    uint64_t *wh;       /* word hashes */
} ctx_t;

static inline uint64_t bucket(uint64_t h, int bits, int version) {
    if (version >= 2) return (h * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    h ^= h >> 31;
    return h >> (64 - bits);
}

/* _features._WORD_TABLE: ASCII letters and digits, and every non-ASCII code point */
static inline int is_word(uint32_t c) {
    if (c >= 128) return 1;
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void ctx_free(ctx_t *c) {
    free(c->wstart);
    free(c->wh);
    c->wstart = NULL;
    c->wh = NULL;
}

static int ctx_init(ctx_t *c, const uint32_t *cp, int64_t n, const double *w, int bits, int version,
                    const int32_t *corders, int nco, const int32_t *worders, int nwo, const uint64_t *csalt,
                    const uint64_t *wsalt, uint64_t P, uint64_t len_k, uint64_t bigram_k) {
    c->wstart = NULL;
    c->wh = NULL;
    if (n < 0 || bits < 1 || bits > 32 || nco < 0 || nwo < 0 || nco > MAX_ORDER || nwo > MAX_ORDER) return -1;
    for (int o = 0; o < nco; o++)
        if (corders[o] < 1 || corders[o] > MAX_ORDER || (o && corders[o] <= corders[o - 1])) return -1;
    for (int o = 0; o < nwo; o++)
        if (worders[o] < 1 || worders[o] > MAX_ORDER || (o && worders[o] <= worders[o - 1])) return -1;
    c->cp = cp;
    c->n = n;
    c->w = w;
    c->bits = bits;
    c->version = version;
    c->corders = corders;
    c->worders = worders;
    c->nco = nco;
    c->nwo = nwo;
    c->cmax = nco ? corders[nco - 1] : 0;
    c->wmax = nwo ? worders[nwo - 1] : 0;
    c->csalt = csalt;
    c->wsalt = wsalt;
    c->bigram_k = bigram_k;
    c->null_bucket = ((uint64_t)1 << bits) - 1;
    c->pk[0] = 1;
    for (int j = 1; j < MAX_ORDER; j++) c->pk[j] = c->pk[j - 1] * P;
    for (int k = 0; k <= MAX_ORDER; k++) c->cused[k] = c->wused[k] = 0;
    for (int o = 0; o < nco; o++) c->cused[corders[o]] = 1;
    for (int o = 0; o < nwo; o++) c->wused[worders[o]] = 1;
    /* version 2 nulls n-grams inside runs of one char, and (as the reference) only when the text
     * holds a run of four equal chars somewhere */
    c->nulls = 0;
    if (version >= 2 && n >= 4)
        for (int64_t i = 3; i < n && !c->nulls; i++)
            c->nulls = cp[i] == cp[i - 1] && cp[i - 1] == cp[i - 2] && cp[i - 2] == cp[i - 3];
    /* words: maximal runs of word chars; hash sum c[j] * P**(j - start) plus length * len_k */
    int64_t cap = n / 2 + 1;
    c->wstart = malloc(sizeof(int64_t) * (size_t)cap);
    c->wh = malloc(sizeof(uint64_t) * (size_t)cap);
    if (!c->wstart || !c->wh) {
        ctx_free(c);
        return -1;
    }
    int64_t m = 0, i = 0;
    if (nwo) {
        while (i < n) {
            if (!is_word(cp[i])) {
                i++;
                continue;
            }
            int64_t s = i;
            uint64_t h = 0, p = 1;
            while (i < n && is_word(cp[i])) {
                h += (uint64_t)cp[i] * p;
                p *= P;
                i++;
            }
            c->wstart[m] = s;
            c->wh[m] = h + (uint64_t)(i - s) * len_k;
            m++;
        }
    }
    c->m = m;
    return 0;
}

/* The weight of the char n-gram of each configured order starting at i (order index o into out[o]);
 * returns how many orders have a gram there (the lowest ones: grams past the end do not exist). */
static inline int char_grams(const ctx_t *c, int64_t i, double *out) {
    const uint32_t *cp = c->cp;
    int64_t n = c->n;
    int eq = 0;  /* equal neighbours from (i-1, i) on: a gram of order k <= eq lies in a run */
    if (c->nulls && i >= 1)
        while (eq < c->cmax && i + eq < n && cp[i - 1 + eq] == cp[i + eq]) eq++;
    uint64_t h = 0;
    int o = 0;
    for (int j = 0; j < c->cmax && i + j < n; j++) {
        h += (uint64_t)cp[i + j] * c->pk[j];
        int k = j + 1;
        if (!c->cused[k]) continue;
        uint64_t b = eq >= k ? c->null_bucket : bucket(h + c->csalt[k - 1], c->bits, c->version);
        out[o++] = c->w[b];
    }
    return o;
}

/* The same for the word n-grams starting at word j. */
static inline int word_grams(const ctx_t *c, int64_t j, double *out) {
    uint64_t h = c->wh[j];
    int o = 0;
    for (int k = 1; k <= c->wmax && j + k - 1 < c->m; k++) {
        if (k > 1) h = h * c->bigram_k + c->wh[j + k - 1];
        if (!c->wused[k]) continue;
        out[o++] = c->w[bucket(h + c->wsalt[k - 1], c->bits, c->version)];
    }
    return o;
}

/* numpy's pairwise sum of a contiguous double array, as arr.sum() computes it */
static double pairwise(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.0;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        int64_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

/* A text of at most one window: numpy sums each order's row, then adds the rows' sums. */
static int best_one(const ctx_t *c, double bias, airlock_best_t *out) {
    int64_t n = c->n, m = c->m, len = n > m ? n : m;
    double *rows = malloc(sizeof(double) * (size_t)(len ? len : 1) * MAX_ORDER);
    if (!rows) return -1;
    double g[MAX_ORDER], cz = 0.0, wz = 0.0, z = bias;
    int64_t nc = 0, nw = 0, words = 0;
    for (int64_t i = 0; i < n; i++) {
        int got = char_grams(c, i, g);
        for (int o = 0; o < got; o++) rows[o * len + i] = g[o];
    }
    for (int o = 0; o < c->nco; o++) {
        int64_t mk = n - c->corders[o] + 1;
        if (mk <= 0) continue;
        cz += pairwise(rows + o * len, mk);
        nc += mk;
    }
    for (int64_t j = 0; j < m; j++) {
        int got = word_grams(c, j, g);
        for (int o = 0; o < got; o++) rows[o * len + j] = g[o];
    }
    for (int o = 0; o < c->nwo; o++) {
        int64_t mk = m - c->worders[o] + 1;
        if (mk <= 0) continue;
        wz += pairwise(rows + o * len, mk);
        nw += mk;
        if (mk > words) words = mk;
    }
    free(rows);
    if (nc) z += cz / sqrt((double)nc);
    if (nw) z += wz / sqrt((double)nw);
    out->z = z;
    out->start = 0;
    out->end = n;
    out->words = c->nwo ? words : ((int64_t)1 << 30);
    out->windows = 1;
    return 0;
}

/* (w[0] + w[1]) + w[2] ...: a position's weights, added as numpy adds the rows */
static inline double row_sum(const double *g, int got) {
    double acc = got ? g[0] : 0.0;
    for (int o = 1; o < got; o++) acc += g[o];
    return acc;
}

static int best_windows(const ctx_t *c, double bias, int64_t win, airlock_best_t *out) {
    int64_t n = c->n, m = c->m;
    double *csum = malloc(sizeof(double) * (size_t)(n + 1));
    double *wsum = malloc(sizeof(double) * (size_t)(m + 1));
    if (!csum || !wsum) {
        free(csum);
        free(wsum);
        return -1;
    }
    double g[MAX_ORDER];
    csum[0] = 0.0;
    for (int64_t i = 0; i < n; i++) csum[i + 1] = csum[i] + row_sum(g, char_grams(c, i, g));
    wsum[0] = 0.0;
    for (int64_t j = 0; j < m; j++) wsum[j + 1] = wsum[j] + row_sum(g, word_grams(c, j, g));

    int64_t half = win / 2, best_s = 0, windows = 0, mc[MAX_ORDER], mw[MAX_ORDER];
    int kc = 0, kw = 0;
    for (int o = 0; o < c->nco; o++)
        if (c->corders[o] <= n) mc[kc++] = n - c->corders[o] + 1;
    for (int o = 0; o < c->nwo; o++)
        if (c->worders[o] <= m) mw[kw++] = m - c->worders[o] + 1;
    double best_z = -INFINITY;
    int64_t cs = 0, ce = 0;  /* words starting before the window's start / end */
    for (int64_t s = 0;; s += half) {
        int last = s >= n - win;
        if (s > n - win) s = n - win;
        int64_t e = s + win, nc = 0, nw = 0;
        while (cs < m && c->wstart[cs] < s) cs++;
        while (ce < m && c->wstart[ce] < e) ce++;
        for (int t = 0; t < kc; t++) nc += (e < mc[t] ? e : mc[t]) - s;
        for (int t = 0; t < kw; t++) nw += (ce < mw[t] ? ce : mw[t]) - (cs < mw[t] ? cs : mw[t]);
        double z = bias + (csum[e] - csum[s]) / sqrt(nc > 1 ? (double)nc : 1.0)
                   + (wsum[ce] - wsum[cs]) / sqrt(nw > 1 ? (double)nw : 1.0);
        windows++;
        if (z > best_z) {
            best_z = z;
            best_s = s;
        }
        if (last) break;
    }
    free(csum);
    free(wsum);
    out->z = best_z;
    out->start = best_s;
    out->end = best_s + win;
    out->words = (int64_t)1 << 30;
    out->windows = windows;
    return 0;
}

/* Returns 0, or -1 on odd parameters or when scratch memory could not be allocated.
 *
 * cp[n]: the code points. w[2**bits]: the weights. corders[nco] / worders[nwo]: the char and word
 * n-gram orders, strictly ascending, each in 1..MAX_ORDER. csalt / wsalt[MAX_ORDER]: the salt of
 * order k at index k-1. P: the polynomial base; len_k, bigram_k: the word hash constants. */
int airlock_best(const uint32_t *cp, int64_t n, const double *w, int bits, int version, double bias,
                 int64_t win, const int32_t *corders, int nco, const int32_t *worders, int nwo,
                 const uint64_t *csalt, const uint64_t *wsalt, uint64_t P, uint64_t len_k,
                 uint64_t bigram_k, airlock_best_t *out) {
    ctx_t c;
    if (win < 2) return -1;
    if (ctx_init(&c, cp, n, w, bits, version, corders, nco, worders, nwo, csalt, wsalt, P, len_k, bigram_k))
        return -1;
    int rc = n <= win ? best_one(&c, bias, out) : best_windows(&c, bias, win, out);
    ctx_free(&c);
    return rc;
}

/* The summed weight of the n-grams starting at each position of [start, end), as
 * WindowScorer.best_numpy's contrib() gives it (the evidence span of a flagged text): for a text of
 * one window, 0.0 plus each char order's weight, then each word order's at word starts; for a
 * longer one, the position's char weights as a row sum, plus its word's row sum. out[end - start]. */
int airlock_contrib(const uint32_t *cp, int64_t n, const double *w, int bits, int version, int64_t win,
                    const int32_t *corders, int nco, const int32_t *worders, int nwo, const uint64_t *csalt,
                    const uint64_t *wsalt, uint64_t P, uint64_t len_k, uint64_t bigram_k, int64_t start,
                    int64_t end, double *out) {
    ctx_t c;
    if (win < 2 || start < 0 || end < start || end > n) return -1;
    if (ctx_init(&c, cp, n, w, bits, version, corders, nco, worders, nwo, csalt, wsalt, P, len_k, bigram_k))
        return -1;
    double g[MAX_ORDER];
    int one = n <= win;
    for (int64_t i = start; i < end; i++) {
        int got = char_grams(&c, i, g);
        if (one) {
            double acc = 0.0;
            for (int o = 0; o < got; o++) acc += g[o];
            out[i - start] = acc;
        } else {
            out[i - start] = row_sum(g, got);
        }
    }
    for (int64_t j = 0; j < c.m; j++) {
        int64_t p = c.wstart[j];
        if (p < start) continue;
        if (p >= end) break;
        int got = word_grams(&c, j, g);
        if (one) {
            for (int o = 0; o < got; o++) out[p - start] += g[o];
        } else {
            out[p - start] += got ? row_sum(g, got) : 0.0;
        }
    }
    ctx_free(&c);
    return 0;
}

/* ----------------------------------------------------------------------------- leetspeak */

/* per byte: 1 a token char [a-z0-9], 2 a word char (re's \w in ASCII: [A-Za-z0-9_]), 4 a digit,
 * 8 a letter past "f" (written out: no run-time initialisation for threads to race on) */
static const uint8_t leet_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 2,
    0, 3, 3, 3, 3, 3, 3, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* _leet.unleet of an ASCII text: in every maximal run of [a-z0-9] with a word boundary on both
 * sides (re's \b: [A-Za-z0-9_] are word chars), at most 20 chars long, holding a digit and a letter
 * past "f" (so not (0x)?[0-9a-f]+), the digits 0 1 3 4 5 7 8 9 become o i e a s t b g.
 * out[n] receives the text; returns how many chars changed. */
int64_t airlock_unleet_ascii(const uint8_t *s, int64_t n, uint8_t *out) {
    static const char to[10] = {'o', 'i', '2', 'e', 'a', 's', '6', 't', 'b', 'g'};
    int64_t changed = 0, i = 0;
    if (n > 0) memcpy(out, s, (size_t)n);
    while (i < n) {
        if (!(leet_class[s[i]] & 1)) {
            i++;
            continue;
        }
        int64_t a = i;
        int seen = 0;
        int64_t past_f = 0;
        for (; i < n && (leet_class[s[i]] & 1); i++) {
            seen |= leet_class[s[i]];
            past_f += (leet_class[s[i]] >> 3) & 1;
        }
        if ((a > 0 && (leet_class[s[a - 1]] & 2)) || (i < n && (leet_class[s[i]] & 2))) continue;
        if (i - a > 20 || !(seen & 4) || !past_f) continue;
        if (i - a >= 3 && s[a] == '0' && s[a + 1] == 'x' && past_f == 1) continue;  /* 0x and hex digits */
        for (int64_t j = a; j < i; j++) {
            if (s[j] <= '9' && to[s[j] - '0'] != s[j]) {
                out[j] = (uint8_t)to[s[j] - '0'];
                changed++;
            }
        }
    }
    return changed;
}
