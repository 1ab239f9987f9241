/* A switch (jump table in .rodata), a constant table of function pointers
   (.data.rel.ro when position-independent) and addresses of functions. */
extern long rt_a(long);
extern long rt_b(long);
long local_c(long x) { return x ^ 0x5a; }

typedef long (*fn)(long);
static fn const table[] = { rt_a, rt_b, local_c, rt_a };

long dispatch(unsigned i, long x) { return table[i & 3](x); }

long sw(int k, long x) {
    switch (k) {
    case 0: return x + 11;
    case 1: return rt_a(x);
    case 2: return x * 7;
    case 3: return rt_b(x - 1);
    case 4: return x >> 3;
    case 5: return local_c(x);
    case 6: return -x;
    case 7: return x | 0x100;
    default: return 0;
    }
}

fn pick(int k) { return k ? rt_a : local_c; }
