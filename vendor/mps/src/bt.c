/* bt.c: bit tables */

#include "bt.h"

void BTSetRange(Word *t, Size base, Size limit)
{
  Size i;
  for (i = base; i < limit && i % WORD_BITS != 0; ++i)
    BTSet(t, i);
  for (; i + WORD_BITS <= limit; i += WORD_BITS)
    t[i / WORD_BITS] = ~(Word)0;
  for (; i < limit; ++i)
    BTSet(t, i);
}

void BTClearRange(Word *t, Size base, Size limit)
{
  Size i;
  for (i = base; i < limit && i % WORD_BITS != 0; ++i)
    BTClear(t, i);
  for (; i + WORD_BITS <= limit; i += WORD_BITS)
    t[i / WORD_BITS] = 0;
  for (; i < limit; ++i)
    BTClear(t, i);
}

/* Search word by word for the first bit equal to `value`. */
static Size findBit(const Word *t, Size base, Size limit, Bool value)
{
  Size i = base;
  while (i < limit) {
    Word w = t[i / WORD_BITS];
    unsigned shift = (unsigned)(i % WORD_BITS);
    if (!value)
      w = ~w;
    w >>= shift;
    if (w != 0) {
      Size found = i + (Size)__builtin_ctzl(w);
      return found < limit ? found : limit;
    }
    i += WORD_BITS - shift;
  }
  return limit;
}

Size BTFindSet(const Word *t, Size base, Size limit)
{
  return findBit(t, base, limit, TRUE);
}

Size BTFindClear(const Word *t, Size base, Size limit)
{
  return findBit(t, base, limit, FALSE);
}

Size BTCountSet(const Word *t, Size base, Size limit)
{
  Size i, count = 0;
  for (i = base; i < limit && i % WORD_BITS != 0; ++i)
    count += BTGet(t, i);
  for (; i + WORD_BITS <= limit; i += WORD_BITS)
    count += (Size)__builtin_popcountl(t[i / WORD_BITS]);
  for (; i < limit; ++i)
    count += BTGet(t, i);
  return count;
}

Bool BTFindClearRun(Size *i_o, const Word *t, Size base, Size limit, Size n)
{
  Size i = base;
  while (i + n <= limit) {
    Size end;
    i = BTFindClear(t, i, limit);
    if (i + n > limit)
      return FALSE;
    end = BTFindSet(t, i, i + n);
    if (end == i + n) {
      *i_o = i;
      return TRUE;
    }
    i = end + 1;
  }
  return FALSE;
}

/* Runs of pages that are free in `alloc` and set in `commit` (spare
 * pages): the same search over the derived bits commit & ~alloc, a word
 * at a time. */
static Size findDerived(const Word *alloc, const Word *commit, Size base,
                        Size limit, Bool value)
{
  Size i = base;
  while (i < limit) {
    Size k = i / WORD_BITS;
    unsigned shift = (unsigned)(i % WORD_BITS);
    Word w = commit[k] & ~alloc[k];
    if (!value)
      w = ~w;
    w >>= shift;
    if (w != 0) {
      Size found = i + (Size)__builtin_ctzl(w);
      return found < limit ? found : limit;
    }
    i += WORD_BITS - shift;
  }
  return limit;
}

Bool BTFindSpareRun(Size *i_o, const Word *alloc, const Word *commit,
                    Size base, Size limit, Size n)
{
  Size i = base;
  while (i + n <= limit) {
    Size end;
    i = findDerived(alloc, commit, i, limit, TRUE);
    if (i + n > limit)
      return FALSE;
    end = findDerived(alloc, commit, i, i + n, FALSE);
    if (end == i + n) {
      *i_o = i;
      return TRUE;
    }
    i = end + 1;
  }
  return FALSE;
}
