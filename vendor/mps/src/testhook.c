/* testhook.c: test hooks of the checking build (mpsx.h)
 *
 * A hook is a function a test installs at a named point of the collector;
 * the checking build calls it there (TEST_HOOK in mpm.h), the fast build
 * compiles the calls away and refuses to install any.  Hooks are read
 * with atomic loads because they run on any thread, inside signal
 * handlers too.
 */

#include "mpm.h"

#if defined(MPS_CHECK) && MPS_CHECK

/* In the strict variety the hooks stay (the collector calls TestHook),
 * only the setter goes. */
static mpsx_test_hook_t hookFn[MPSX_HOOK_LIMIT];
static void *hookClosure[MPSX_HOOK_LIMIT];

void TestHook(int point)
{
  mpsx_test_hook_t fn;
  AVER(point >= 0 && point < MPSX_HOOK_LIMIT);
  fn = __atomic_load_n(&hookFn[point], __ATOMIC_ACQUIRE);
  if (fn != NULL)
    fn(point, __atomic_load_n(&hookClosure[point], __ATOMIC_ACQUIRE));
}

#if EXTENSIONS /* DESIGN.md#strict */
mps_res_t mpsx_test_hook_set(int point, mpsx_test_hook_t fn, void *closure)
{
  if (point < 0 || point >= MPSX_HOOK_LIMIT)
    return MPS_RES_PARAM;
  /* Clear first, so that no call sees the new closure with the old
   * function. */
  __atomic_store_n(&hookFn[point], NULL, __ATOMIC_RELEASE);
  __atomic_store_n(&hookClosure[point], closure, __ATOMIC_RELEASE);
  __atomic_store_n(&hookFn[point], fn, __ATOMIC_RELEASE);
  return MPS_RES_OK;
}
#endif

#elif EXTENSIONS /* DESIGN.md#strict */

mps_res_t mpsx_test_hook_set(int point, mpsx_test_hook_t fn, void *closure)
{
  (void)point;
  (void)fn;
  (void)closure;
  return MPS_RES_UNIMPL;
}

#endif
