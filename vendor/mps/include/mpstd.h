/* mpstd.h: platform identification
 *
 * Works out which platform is being compiled for from the compiler's
 * predefined macros and describes it:
 *
 *   MPS_OS_xx     operating system    LI = Linux
 *   MPS_ARCH_xx   processor           I6 = x86-64, A6 = ARM64 (AArch64)
 *   MPS_BUILD_xx  compiler            GC = GCC, LL = Clang/LLVM
 *   MPS_PF_xxxxxx the combination, e.g. MPS_PF_LII6GC, and MPS_PF_STRING
 *                 the same in lower case ("lii6gc")
 *   MPS_T_WORD    unsigned integer type of a machine word (mps_word_t)
 *   MPS_T_ULONGEST the widest unsigned integer type the MPS uses
 *   MPS_WORD_WIDTH bits in a word, MPS_WORD_SHIFT its base-2 logarithm
 *   MPS_PF_ALIGN  the strictest alignment any ordinary C object needs
 *
 * mps.h does not include this header.  Only the platforms this
 * implementation supports are recognised; anything else is an error
 * rather than a guess.
 */

#ifndef mpstd_h
#define mpstd_h

/* The compiler.  Clang also defines __GNUC__, so ask about it first. */
#if defined(__clang__)
#define MPS_BUILD_LL
#define MPS_BUILD_STRING_ "ll"
#elif defined(__GNUC__)
#define MPS_BUILD_GC
#define MPS_BUILD_STRING_ "gc"
#else
#error "mpstd.h: unsupported compiler (GCC or Clang required)"
#endif

/* The operating system. */
#if defined(__linux__)
#define MPS_OS_LI
#define MPS_OS_STRING_ "li"
#else
#error "mpstd.h: unsupported operating system (Linux required)"
#endif

/* The processor.  Both supported ones are LP64, little-endian. */
#if defined(__x86_64__)
#define MPS_ARCH_I6
#define MPS_ARCH_STRING_ "i6"
#elif defined(__aarch64__)
#define MPS_ARCH_A6
#define MPS_ARCH_STRING_ "a6"
#else
#error "mpstd.h: unsupported processor (x86-64 or AArch64 required)"
#endif

/* The combination. */
#if defined(MPS_ARCH_I6) && defined(MPS_BUILD_GC)
#define MPS_PF_LII6GC
#elif defined(MPS_ARCH_I6) && defined(MPS_BUILD_LL)
#define MPS_PF_LII6LL
#elif defined(MPS_ARCH_A6) && defined(MPS_BUILD_GC)
#define MPS_PF_LIA6GC
#elif defined(MPS_ARCH_A6) && defined(MPS_BUILD_LL)
#define MPS_PF_LIA6LL
#endif

#define MPS_PF_STRING MPS_OS_STRING_ MPS_ARCH_STRING_ MPS_BUILD_STRING_

/* Word and alignment facts, common to all supported (LP64) platforms. */
#define MPS_T_WORD      unsigned long
#define MPS_T_ULONGEST  unsigned long
#define MPS_WORD_WIDTH  64
#define MPS_WORD_SHIFT  6
#define MPS_PF_ALIGN    8

#endif /* mpstd_h */
