#!/usr/bin/env python3
"""names.py: generate tests/names.c, a C test that names every function,
macro, key, type and class that the interface specification lists.

    python3 tests/names.py [SPEC] > tests/names.c

SPEC defaults to ../../../shared/mps-interface.md (beside the repository).
Every identifier of the interface's prefixes (mps_, MPS_, _mps_) in the
specification, and every key of its key table (as MPS_KEY_...), is looked
up in the public headers (include/*.h) and referred to by the kind of its
declaration: a macro must be defined (#ifndef ... #error), a function or
variable is taken the address of (so the test links only if the library
defines it), a type is measured or declared.  Names the specification
gives as patterns or as removed from the interface are listed in SKIP
with the reason; any other name the headers lack makes this script fail.
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "..", "include")

# Not names: patterns and placeholders of the specification's prose.
PATTERNS = {
    "MPS_KEY_X", "MPS_KEY_xxx_FIELD", "_mps_key_", "_mps_key_X", "mps_fmt_",
    "mps_io_", "mps_lib_", "_mps_MPS_RES_LIMIT", "mps_class",
    "mps_frequency", "mps_mortality", "mps_capacity", "mps_cached_count",
    "mps_block_size", "mps_headerSize", "MPS_FIX",
}
# Removed from the interface (mps-interface.md: "Removed in 1.118 ...
# provide only as optional compat"), declared under #if 0 by the manual
# (mps_arena_retract), or Windows-only.
REMOVED = {
    "mps_fix", "mps_arena_expose",
    "mps_arena_unsafe_expose_remember_protection",
    "mps_arena_unsafe_restore_protection", "mps_tramp", "mps_arena_retract",
    "MPS_KEY_VMW3_TOP_DOWN",
}
# Struct members the specification names in passing (fields of
# mps_sac_class_s, mps_fmt_auto_header_s, ...): checked by the structs'
# layouts in mps-sys, not here.
MEMBERS = {"mps_class", "mps_headerSize", "mps_block_size",
           "mps_cached_count", "mps_frequency", "mps_capacity",
           "mps_mortality"}


def headers():
    text = {}
    for name in sorted(os.listdir(INCLUDE)):
        if name.endswith(".h") and not name.startswith("mpsx"):
            with open(os.path.join(INCLUDE, name)) as f:
                text[name] = f.read()
    return text


def spec_names(spec):
    names = set(re.findall(r"\b_?(?:mps|MPS)_[A-Za-z0-9_]+", spec))
    # The key table: "| ARENA_SIZE | size | ..." and "A / B / C" rows.
    for row in re.findall(r"^\| ([A-Z0-9_ /]+) \|", spec, re.M):
        parts = [p.strip() for p in row.split("/")]
        if parts[0] == "Key":
            continue
        prefix = parts[0].split("_")[0] + "_"
        for p in parts:
            names.add(("MPS_KEY_" + p, "MPS_KEY_" + prefix + p))
    return names


def classify(name, all_text):
    esc = re.escape(name)
    if re.search(r"#\s*define\s+" + esc + r"\b", all_text):
        return "macro"
    if re.search(r"typedef[^;{}]*\b" + esc + r"\s*;", all_text, re.S) or \
            re.search(r"typedef[^;]*\(\s*\*\s*" + esc + r"\s*\)", all_text):
        return "type"
    if re.search(r"\b" + esc + r"\s*\(", all_text) and re.search(
            r"extern[^;{}]*\b" + esc + r"\s*\(", all_text, re.S):
        return "function"
    if re.search(r"extern[^;(){}]*\b" + esc + r"\s*(\[\s*\])?\s*;", all_text):
        return "variable"
    if re.search(r"struct\s+" + esc + r"\b", all_text):
        return "struct"
    # Names made by macros (the result codes of _mps_RES_ENUM) or declared
    # in ways the patterns above miss: ask the compiler.
    if probe("(void)(%s);" % name):
        return "enumerator"
    if probe("%s *p = 0; (void)p;" % name):
        return "type"
    return None


def probe(statement):
    src = "".join('#include "%s"\n' % h for h in sorted(headers())) + \
        "int main(void) { %s return 0; }\n" % statement
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "probe.c")
        with open(c, "w") as f:
            f.write(src)
        r = subprocess.run([cc, "-std=c11", "-fsyntax-only", "-I", INCLUDE,
                            c], capture_output=True)
        return r.returncode == 0


def main():
    spec_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "..", "..", "..", "..", "shared", "mps-interface.md")
    with open(spec_path) as f:
        spec = f.read()
    hdrs = headers()
    all_text = "\n".join(hdrs.values())
    refs = {}
    missing = []
    for entry in sorted(spec_names(spec), key=str):
        candidates = entry if isinstance(entry, tuple) else (entry,)
        if candidates[0] in PATTERNS | REMOVED | MEMBERS:
            continue
        for name in candidates:
            kind = classify(name, all_text)
            if kind is not None:
                refs[name] = kind
                break
        else:
            missing.append(candidates[0])
    if missing:
        sys.stderr.write("names.py: not in the headers: %s\n"
                         % " ".join(missing))
        sys.exit(1)
    out = []
    w = out.append
    w("/* names.c -- every name of the interface specification exists\n"
      " *\n"
      " * GENERATED by tests/names.py from mps-interface.md: do not edit.\n"
      " * Compiling checks that each macro is defined and each type\n"
      " * declared; linking, that the library defines each function and\n"
      " * variable; running, that the addresses are not NULL.\n"
      " */\n\n")
    w('#include "testlib.h"\n\n')
    for h in sorted(hdrs):
        w('#include "%s"\n' % h)
    w("\n#include <stdio.h>\n\n")
    for name, kind in sorted(refs.items()):
        if kind == "macro":
            w("#ifndef %s\n#error \"%s is not defined\"\n#endif\n"
              % (name, name))
    w("\ntypedef void (*fun_t)(void);\n\n")
    funs = [n for n, k in sorted(refs.items()) if k == "function"]
    # A macro with a function of the same name behind it (mps_reserve,
    # mps_commit): the function must link too.
    funs += ["(%s)" % n for n, k in sorted(refs.items()) if k == "macro"
             and re.search(r"extern[^;{}]*\(\s*" + re.escape(n) + r"\s*\)\s*\(",
                           all_text)]
    vars_ = [n for n, k in sorted(refs.items()) if k == "variable"]
    w("static const fun_t functions[] = {\n")
    for n in funs:
        w("    (fun_t)%s,\n" % n)
    w("};\n\nstatic const void *const variables[] = {\n")
    for n in vars_:
        w("    (const void *)&%s,\n" % n)
    # A key macro refers to its key variable: link it.
    for n, k in sorted(refs.items()):
        if k == "macro" and n.startswith("MPS_KEY_") and \
                not n.endswith("_FIELD"):
            w("    (const void *)%s,\n" % n)
    w("};\n\n")
    w("int main(void)\n{\n  size_t i, types = 0;\n")
    w('  test_init("names");\n')
    for n, k in sorted(refs.items()):
        if k == "type":
            w("  types += sizeof(%s *) != 0;\n" % n)
        elif k == "struct":
            w("  types += sizeof(struct %s *) != 0;\n" % n)
        elif k == "enumerator":
            w("  types += (size_t)(%s) * 0 + 1;\n" % n)
    w("  for (i = 0; i < sizeof functions / sizeof functions[0]; ++i)\n"
      "    CHECK(functions[i] != NULL);\n"
      "  for (i = 0; i < sizeof variables / sizeof variables[0]; ++i)\n"
      "    CHECK(variables[i] != NULL);\n")
    w('  printf("names: %%zu functions, %%zu variables, %d macros, %%zu '
      'types and constants\\n",\n'
      "         sizeof functions / sizeof functions[0],\n"
      "         sizeof variables / sizeof variables[0], types);\n"
      % sum(1 for k in refs.values() if k == "macro"))
    w("  return 0;\n}\n")
    sys.stdout.write("".join(out))


main()
