/* args.c: keyword arguments
 *
 * Defines the key objects named by the MPS_KEY_* macros of mps.h, the
 * shared empty list mps_args_none, the bound-checked slot writer behind
 * MPS_ARGS_ADD, and the helpers of args.h.  See args.h for the rules of
 * consuming a list.
 */

#include "args.h"
#include "check.h"


/* KEY OBJECTS
 *
 * Each key records its public name and the union member its value
 * travels in; the latter is taken from the header's MPS_KEY_x_FIELD
 * macro so the two cannot disagree.  "link" is the object's name after
 * the "_mps_key_" prefix, which for three keys is lower case. */

#define ARG_STRINGIFY_(x) #x
#define ARG_STRINGIFY(x) ARG_STRINGIFY_(x)

#define ARG_KEY_DEFINE(link, NAME)                                          \
  const struct mps_key_s _mps_key_##link = {                                \
    KeySig, "MPS_KEY_" #NAME, ARG_STRINGIFY(MPS_KEY_##NAME##_FIELD)         \
  }

const struct mps_key_s _mps_key_ARGS_END = {
  KeySig, "MPS_KEY_ARGS_END", ""
};

/* Arenas */
ARG_KEY_DEFINE(ARENA_SIZE, ARENA_SIZE);
ARG_KEY_DEFINE(ARENA_GRAIN_SIZE, ARENA_GRAIN_SIZE);
ARG_KEY_DEFINE(ARENA_ZONED, ARENA_ZONED);
ARG_KEY_DEFINE(arena_extended, ARENA_EXTENDED);
ARG_KEY_DEFINE(arena_contracted, ARENA_CONTRACTED);
ARG_KEY_DEFINE(ARENA_CL_BASE, ARENA_CL_BASE);
ARG_KEY_DEFINE(COMMIT_LIMIT, COMMIT_LIMIT);
ARG_KEY_DEFINE(SPARE_COMMIT_LIMIT, SPARE_COMMIT_LIMIT);
ARG_KEY_DEFINE(SPARE, SPARE);
ARG_KEY_DEFINE(PAUSE_TIME, PAUSE_TIME);
ARG_KEY_DEFINE(VMW3_TOP_DOWN, VMW3_TOP_DOWN);

/* Pools */
ARG_KEY_DEFINE(FORMAT, FORMAT);
ARG_KEY_DEFINE(CHAIN, CHAIN);
ARG_KEY_DEFINE(GEN, GEN);
ARG_KEY_DEFINE(RANK, RANK);
ARG_KEY_DEFINE(INTERIOR, INTERIOR);
ARG_KEY_DEFINE(AP_LOGGED, AP_LOGGED);
ARG_KEY_DEFINE(EXTEND_BY, EXTEND_BY);
ARG_KEY_DEFINE(LARGE_SIZE, LARGE_SIZE);
ARG_KEY_DEFINE(MIN_SIZE, MIN_SIZE);
ARG_KEY_DEFINE(MEAN_SIZE, MEAN_SIZE);
ARG_KEY_DEFINE(MAX_SIZE, MAX_SIZE);
ARG_KEY_DEFINE(ALIGN, ALIGN);
ARG_KEY_DEFINE(ap_hash_arrays, AP_HASH_ARRAYS);
ARG_KEY_DEFINE(POOL_DEBUG_OPTIONS, POOL_DEBUG_OPTIONS);
ARG_KEY_DEFINE(AMS_SUPPORT_AMBIGUOUS, AMS_SUPPORT_AMBIGUOUS);
ARG_KEY_DEFINE(AWL_FIND_DEPENDENT, AWL_FIND_DEPENDENT);
ARG_KEY_DEFINE(MVFF_SLOT_HIGH, MVFF_SLOT_HIGH);
ARG_KEY_DEFINE(MVFF_ARENA_HIGH, MVFF_ARENA_HIGH);
ARG_KEY_DEFINE(MVFF_FIRST_FIT, MVFF_FIRST_FIT);
ARG_KEY_DEFINE(MFS_UNIT_SIZE, MFS_UNIT_SIZE);
ARG_KEY_DEFINE(MVT_RESERVE_DEPTH, MVT_RESERVE_DEPTH);
ARG_KEY_DEFINE(MVT_FRAG_LIMIT, MVT_FRAG_LIMIT);

/* Formats */
ARG_KEY_DEFINE(FMT_ALIGN, FMT_ALIGN);
ARG_KEY_DEFINE(FMT_HEADER_SIZE, FMT_HEADER_SIZE);
ARG_KEY_DEFINE(FMT_SCAN, FMT_SCAN);
ARG_KEY_DEFINE(FMT_SKIP, FMT_SKIP);
ARG_KEY_DEFINE(FMT_FWD, FMT_FWD);
ARG_KEY_DEFINE(FMT_ISFWD, FMT_ISFWD);
ARG_KEY_DEFINE(FMT_PAD, FMT_PAD);
ARG_KEY_DEFINE(FMT_CLASS, FMT_CLASS);


/* THE EMPTY LIST
 *
 * Shared by every caller; only ever read.  It holds nothing but the
 * terminator, which ArgPick never removes. */

mps_arg_s mps_args_none[] = { { MPS_KEY_ARGS_END, { 0 } } };


/* _mps_args_set_key -- store a key into a list built by MPS_ARGS_BEGIN
 *
 * The public macros call this for every slot they write, so that an
 * overfull list is caught here.  In a build without assertions the
 * store is skipped rather than written past the array. */

void _mps_args_set_key(mps_arg_s args[MPS_ARGS_MAX], unsigned i,
                       mps_key_t key)
{
  AVER(args != NULL);
  AVER(i < MPS_ARGS_MAX);
  if (i < MPS_ARGS_MAX)
    args[i].key = key;
}


/* KeyCheck, ArgListCheck -- validity tests for assertions */

int KeyCheck(mps_key_t key)
{
  return key != NULL && key->sig == KeySig && key->name != NULL
         && key->field != NULL;
}

int ArgListCheck(mps_arg_s args[])
{
  size_t i;
  if (args == NULL)
    return 0;
  for (i = 0; args[i].key != MPS_KEY_ARGS_END; ++i)
    if (!KeyCheck(args[i].key))
      return 0;
  return 1;
}


/* ArgPick -- take one argument out of a list
 *
 * Asking for the terminator is refused, which also guarantees that
 * nothing is ever written to mps_args_none. */

int ArgPick(mps_arg_s *arg_o, mps_arg_s args[], mps_key_t key)
{
  size_t i, j;

  AVER(arg_o != NULL);
  AVER(args != NULL);
  AVER(KeyCheck(key));
  AVER(key != MPS_KEY_ARGS_END);
  if (key == MPS_KEY_ARGS_END)
    return 0;

  for (i = 0; args[i].key != MPS_KEY_ARGS_END; ++i) {
    if (args[i].key == key) {
      *arg_o = args[i];
      /* Close the gap, moving the terminator down too. */
      j = i;
      do {
        args[j] = args[j + 1];
        ++j;
      } while (args[j - 1].key != MPS_KEY_ARGS_END);
      return 1;
    }
  }
  return 0;
}


/* ArgKeyName -- printable name of a key */

const char *ArgKeyName(mps_key_t key)
{
  AVER(KeyCheck(key));
  return key->name;
}
