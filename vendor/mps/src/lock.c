/* lock.c: arena locks and the process-wide locks
 *
 * Each arena has one lock; at most one thread runs inside an arena's
 * collector code.  Two process-wide locks exist besides: the global lock
 * (the ring of arenas, signal handler installation) and the world lock,
 * held while threads are stopped so that two arenas never try to stop
 * each other's threads at once.  Order: arena lock, then world lock, then
 * global lock.  See DESIGN.md#locking.
 */

#include "mpm.h"

#define LockSig ((Sig)0x51910CC5UL)

/* Thread ids are stored in a word (glibc: pthread_t is unsigned long). */
_Static_assert(sizeof(pthread_t) == sizeof(unsigned long),
               "pthread_t must fit the owner word");

static pthread_mutex_t globalMutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t worldMutex = PTHREAD_MUTEX_INITIALIZER;

Bool LockCheck(Lock lock)
{
  return lock != NULL && lock->sig == LockSig;
}

void LockInit(Lock lock)
{
  int err = pthread_mutex_init(&lock->mutex, NULL);
  ASSERT_ALWAYS(err == 0);
  lock->owner = 0;
  lock->held = FALSE;
  lock->waiting = 0;
  lock->claims = 0;
  lock->sig = LockSig;
}

void LockFinish(Lock lock)
{
  AVERT(Lock, lock);
  AVER(!lock->held);
  (void)pthread_mutex_destroy(&lock->mutex);
  lock->sig = SigInvalid;
}

void LockClaim(Lock lock)
{
  int err;
  AVERT(Lock, lock);
  /* Re-entering the collector from a callback would deadlock: say so, in
   * every build (the test is cheap). */
  if (LockIsHeldByMe(lock))
    AssertFail(__FILE__, __LINE__,
               "the collector was re-entered from a callback (a format "
               "method, scanner or stepper may not call the MPS)");
  if (pthread_mutex_trylock(&lock->mutex) != 0) {
    /* Held by another thread: count this one as waiting while it blocks. */
    (void)__atomic_add_fetch(&lock->waiting, 1u, __ATOMIC_RELAXED);
    err = pthread_mutex_lock(&lock->mutex);
    ASSERT_ALWAYS(err == 0);
    (void)__atomic_sub_fetch(&lock->waiting, 1u, __ATOMIC_RELAXED);
  }
  (void)__atomic_add_fetch(&lock->claims, 1ul, __ATOMIC_RELAXED);
  __atomic_store_n(&lock->owner, (unsigned long)pthread_self(),
                   __ATOMIC_RELAXED);
  lock->held = TRUE;
}

Bool LockHasWaiters(Lock lock)
{
  return __atomic_load_n(&lock->waiting, __ATOMIC_RELAXED) != 0;
}

void LockForgetWaiters(Lock lock)
{
  __atomic_store_n(&lock->waiting, 0u, __ATOMIC_RELAXED);
}

unsigned long LockClaims(Lock lock)
{
  return __atomic_load_n(&lock->claims, __ATOMIC_RELAXED);
}

void LockRelease(Lock lock)
{
  int err;
  AVERT(Lock, lock);
  AVER(LockIsHeldByMe(lock));
  lock->held = FALSE;
  __atomic_store_n(&lock->owner, 0UL, __ATOMIC_RELAXED);
  err = pthread_mutex_unlock(&lock->mutex);
  ASSERT_ALWAYS(err == 0);
}

Bool LockIsHeldByMe(Lock lock)
{
  return __atomic_load_n(&lock->owner, __ATOMIC_RELAXED) ==
         (unsigned long)pthread_self();
}

void LockClaimWorld(void)
{
  ASSERT_ALWAYS(pthread_mutex_lock(&worldMutex) == 0);
}

void LockReleaseWorld(void)
{
  ASSERT_ALWAYS(pthread_mutex_unlock(&worldMutex) == 0);
}

void LockClaimGlobal(void)
{
  ASSERT_ALWAYS(pthread_mutex_lock(&globalMutex) == 0);
}

void LockReleaseGlobal(void)
{
  ASSERT_ALWAYS(pthread_mutex_unlock(&globalMutex) == 0);
}
