# Known issue 3 (codepool): R_X86_64_REX_GOTPCRELX on a lea of an external
# symbol. Assemble: cc -c -o lea-gotpcrelx.elf lea-gotpcrelx.s
#
# `lea rax, [rip + ext_data@GOTPCREL]` puts the address of ext_data's GOT
# slot in rax (the psABI allows the relaxable kinds only on mov, call, jmp,
# test and binops, so an assembler emits plain GOTPCREL here; this is a
# hand-made object). For a local target, layout keeps that meaning; for an
# external one, relinking takes the lea for an already relaxed mov: rax
# becomes ext_data's address itself when it is in reach, and the lea is
# turned into a mov (the same result) when it is not.
        .text
        .globl  g
        .type   g,@function
g:
        leaq    0(%rip), %rax
        .reloc  .-4, R_X86_64_REX_GOTPCRELX, ext_data-4
        ret
        .size   g, .-g
