/* Mutual recursion and tail calls inside the object, loops, no externals. */
int is_even(unsigned n);
int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }
int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }

unsigned long fib(unsigned n) {
    unsigned long a = 0, b = 1;
    while (n--) { unsigned long t = a + b; a = b; b = t; }
    return a;
}

unsigned long collatz(unsigned long n) {
    unsigned long steps = 0;
    while (n != 1) { n = (n & 1) ? 3 * n + 1 : n / 2; steps++; }
    return steps;
}
