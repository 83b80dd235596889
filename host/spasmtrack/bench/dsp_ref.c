/* The firmware's EMG chain (firmware/core/dsp.py + dspchain.py, mode "arv", no notch) in C with
 * 32-bit integers only, as a speed reference for `make bench` (gcc -O2). Same algorithm,
 * same integers: the benchmark checks its output equals the firmware's bit for bit.
 *
 * usage: dsp_ref COEFFS.txt RAW.bin OUT.bin BLOCK REPEAT
 * COEFFS.txt: whitespace-separated integers written by bench/dsp.py:
 *   decim frac rect_shift env_k env_s env_pre env_win lf_k lf_s lf_pre lf_frac
 *   nbp bp[7*nbp] nlf lf[7*nlf]
 * Prints the best wall time per sample (ns) over REPEAT passes on stdout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct { int32_t x1, x2, y1, y2, r1, r2; } sec_state;

static void biquad(int32_t *b, int n, const int32_t *sos, int nsec, sec_state *st) {
    for (int s = 0; s < nsec; s++) {
        const int32_t *c = sos + 8 * s;
        int32_t b0 = c[0], b1 = c[1], b2 = c[2], na1 = c[3], na2 = c[4], q = c[5], k = c[6];
        /* c[7] (form) selects a faster route in the viper kernel to the same integers; C's
           compiler does not need it, so this reference always takes the general route */
        int32_t mask = (1 << k) - 1, rnd = 1 << (q - 1), mq = (1 << q) - 1, up = k - q;
        int32_t d1 = (na1 + rnd) >> q, d2 = (na2 + rnd) >> q;
        sec_state z = st[s];
        int32_t x1h = z.x1 >> k, x1l = z.x1 & mask, x2h = z.x2 >> k, x2l = z.x2 & mask;
        int32_t y1h = z.y1 >> k, y1l = z.y1 & mask, y2h = z.y2 >> k, y2l = z.y2 & mask;
        int32_t r1 = z.r1, r2 = z.r2;
        for (int i = 0; i < n; i++) {
            int32_t x0 = b[i], x0h = x0 >> k, x0l = x0 & mask;
            int32_t hi = b0 * x0h + b1 * x1h + b2 * x2h + na1 * y1h + na2 * y2h;
            int32_t lo = b0 * x0l + b1 * x1l + b2 * x2l + na1 * y1l + na2 * y2l + rnd + d1 * r1 + d2 * r2;
            int32_t y0 = (hi << up) + (lo >> q);
            b[i] = y0;
            x2h = x1h; x2l = x1l; x1h = x0h; x1l = x0l;
            y2h = y1h; y2l = y1l; y1h = y0 >> k; y1l = y0 & mask;
            r2 = r1; r1 = (lo & mq) - rnd;
        }
        z.x1 = (x1h << k) + x1l; z.x2 = (x2h << k) + x2l;
        z.y1 = (y1h << k) + y1l; z.y2 = (y2h << k) + y2l; z.r1 = r1; z.r2 = r2;
        st[s] = z;
    }
}

static void mulshift(int32_t *b, int n, int32_t k, int32_t s, int32_t pre) {
    int32_t sh = s - 15, half = (1 << sh) >> 1;
    for (int i = 0; i < n; i++) {
        int32_t a = b[i] << pre;
        int32_t t = (a >> 15) * k + (((a & 0x7FFF) * k) >> 15);
        b[i] = (t + half) >> sh;
    }
}

typedef struct { int32_t win, pos, sum; int32_t v[64]; } ring;

static void movmean(int32_t *b, int n, ring *r) {
    int32_t half = r->win >> 1;
    for (int i = 0; i < n; i++) {
        int32_t v = b[i], old = r->v[r->pos];
        r->v[r->pos] = v;
        r->sum += v - old;
        if (++r->pos == r->win) r->pos = 0;
        int32_t a = r->sum + half;   /* >= 0 here: env and |lf| are non-negative */
        b[i] = a / r->win;
    }
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: dsp_ref COEFFS RAW OUT BLOCK REPEAT\n"); return 2; }
    FILE *fc = fopen(argv[1], "r");
    int32_t decim, frac, rsh, ek, es, ep, ewin, lk, ls, lp, lfrac, nbp, nlf;
    if (fscanf(fc, "%d %d %d %d %d %d %d %d %d %d %d %d", &decim, &frac, &rsh, &ek, &es, &ep,
               &ewin, &lk, &ls, &lp, &lfrac, &nbp) != 12) return 3;
    int32_t bp[8 * 8], lf[8 * 8];
    for (int i = 0; i < 8 * nbp; i++) if (fscanf(fc, "%d", &bp[i]) != 1) return 3;
    if (fscanf(fc, "%d", &nlf) != 1) return 3;
    for (int i = 0; i < 8 * nlf; i++) if (fscanf(fc, "%d", &lf[i]) != 1) return 3;
    fclose(fc);
    FILE *fr = fopen(argv[2], "rb");
    fseek(fr, 0, SEEK_END); long bytes = ftell(fr); fseek(fr, 0, SEEK_SET);
    int n_all = (int)(bytes / 4);
    int32_t *raw = malloc(bytes);
    if (fread(raw, 4, n_all, fr) != (size_t)n_all) return 4;
    fclose(fr);
    int block = atoi(argv[4]), repeat = atoi(argv[5]);
    n_all = n_all / block * block;
    int m_blk = block / decim, m_all = n_all / decim;
    int32_t *work = malloc(4 * block), *env = malloc(4 * m_blk), *lfb = malloc(4 * m_blk);
    int32_t *rmin = malloc(4 * m_blk), *rmax = malloc(4 * m_blk);
    int32_t *out = malloc(16 * (size_t)m_all);
    double best = 1e30;
    for (int rep = 0; rep < repeat; rep++) {
        sec_state bst[8] = {{0}}, lst[8] = {{0}};
        ring er = {ewin, 0, 0, {0}}, lr = {ewin, 0, 0, {0}};
        bst[0].x1 = bst[0].x2 = raw[0] << frac;      /* primed first high-pass section */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int pos = 0, o = 0; pos < n_all; pos += block, o += m_blk) {
            const int32_t *r = raw + pos;
            for (int j = 0, i = 0; j < m_blk; j++) {
                int32_t acc = 0, mn = r[i], mx = r[i];
                for (int e = i + decim; i < e; i++) {
                    int32_t v = r[i];
                    work[i] = v << frac; acc += v;
                    if (v < mn) mn = v;
                    if (v > mx) mx = v;
                }
                lfb[j] = acc; rmin[j] = mn; rmax[j] = mx;
            }
            biquad(work, block, bp, nbp, bst);
            int32_t half = (1 << rsh) >> 1;
            for (int j = 0, i = 0; j < m_blk; j++) {
                int32_t acc = 0;
                for (int e = i + decim; i < e; i++) { int32_t v = work[i]; if (v < 0) v = -v; acc += (v + half) >> rsh; }
                env[j] = acc;
            }
            mulshift(env, m_blk, ek, es, ep);
            movmean(env, m_blk, &er);
            mulshift(lfb, m_blk, lk, ls, lp);
            for (int j = 0; j < m_blk; j++) lfb[j] <<= lfrac;
            biquad(lfb, m_blk, lf, nlf, lst);
            for (int j = 0; j < m_blk; j++) { int32_t v = lfb[j]; if (v < 0) v = -v; lfb[j] = v >> lfrac; }
            movmean(lfb, m_blk, &lr);
            for (int j = 0; j < m_blk; j++) {
                out[o + j] = env[j]; out[m_all + o + j] = lfb[j];
                out[2 * m_all + o + j] = rmin[j]; out[3 * m_all + o + j] = rmax[j];
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
        if (ns < best) best = ns;
    }
    FILE *fo = fopen(argv[3], "wb");
    fwrite(out, 4, 4 * (size_t)m_all, fo);
    fclose(fo);
    printf("%.3f\n", best / n_all);
    return 0;
}
