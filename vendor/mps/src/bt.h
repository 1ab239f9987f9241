/* bt.h: bit tables (arrays of words used as bit sets)
 *
 * Used by the page tables (arena.c) for "allocated" and "committed".
 */

#ifndef MPS_BT_H
#define MPS_BT_H

#include "mpm.h"

#define BTWords(n) (((n) + WORD_BITS - 1) / WORD_BITS)

static inline Bool BTGet(const Word *t, Size i)
{
  return (t[i / WORD_BITS] >> (i % WORD_BITS)) & 1;
}

static inline void BTSet(Word *t, Size i)
{
  t[i / WORD_BITS] |= (Word)1 << (i % WORD_BITS);
}

static inline void BTClear(Word *t, Size i)
{
  t[i / WORD_BITS] &= ~((Word)1 << (i % WORD_BITS));
}

void BTSetRange(Word *t, Size base, Size limit);
void BTClearRange(Word *t, Size base, Size limit);
/* First index in [base, limit) whose bit is set (or clear), else limit. */
Size BTFindSet(const Word *t, Size base, Size limit);
Size BTFindClear(const Word *t, Size base, Size limit);
Size BTCountSet(const Word *t, Size base, Size limit);
/* First run of n clear bits inside [base, limit); TRUE if found. */
Bool BTFindClearRun(Size *i_o, const Word *t, Size base, Size limit, Size n);
/* First run of n indices clear in alloc and set in commit. */
Bool BTFindSpareRun(Size *i_o, const Word *alloc, const Word *commit,
                    Size base, Size limit, Size n);

#endif /* MPS_BT_H */
