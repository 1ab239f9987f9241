/* References to external data (GOT loads when position-independent), to
   read-only data and to strings. */
extern long rt_counter;
extern const char rt_name[];
static const double weights[4] = { 0.5, 1.5, 2.5, 3.5 };
static const char *const names[] = { "alpha", "beta", "gamma" };

long counter(void) { return rt_counter; }
const char *name(void) { return rt_name; }
double weight(unsigned i) { return weights[i & 3]; }
const char *label(unsigned i) { return names[i % 3]; }
long *counter_address(void) { return &rt_counter; }
