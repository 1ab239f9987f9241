/* Calls to runtime functions, a static helper, a string and a constant. */
extern long rt_print(long);
extern long rt_alloc(unsigned long size);
extern void rt_panic(const char *message) __attribute__((noreturn));

static long twice(long x) { return 2 * x; }

long f(long x) { return rt_print(twice(x)) + 1; }

long g(long x) {
    if (x < 0)
        rt_panic("negative argument");
    return rt_alloc((unsigned long)x * 16) + (long)(x * 2.5);
}
