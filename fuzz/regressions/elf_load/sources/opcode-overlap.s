# Known issue 1 (codepool): a relaxable GOT relocation whose instruction
# bytes (the two bytes before its field) are the last two bytes of another
# relocation's field. Assemble: cc -c -o opcode-overlap.elf opcode-overlap.s
#
# Bytes 0..8 are an R_X86_64_64 field whose value, for ext_data at
# 0x7f00_0000_1000, is 0x058b_7f00_0000_1000: its last two bytes, 8b 05,
# read as "mov reg, [rip+disp]" for the R_X86_64_REX_GOTPCRELX field at 8.
# Relinking writes the R_X86_64_64 value, then sees a mov, relaxes it to a
# lea (8b -> 8d) and so changes the R_X86_64_64 value to 0x058d_...
        .text
        .globl  f
        .type   f,@function
f:
        .quad   0
        .reloc  0, R_X86_64_64, ext_data+0x058b000000000000
        .long   0
        .reloc  8, R_X86_64_REX_GOTPCRELX, ext_data-4
        ret
        .size   f, .-f
