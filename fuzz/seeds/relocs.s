# Every relocation kind the loader accepts, on the instructions that carry
# them in compiler output (and the relaxable GOT forms).
        .text
        .globl  all_kinds
        .type   all_kinds,@function
all_kinds:
        call    ext_fn@PLT                  # R_X86_64_PLT32
        call    *ext_fn@GOTPCREL(%rip)      # R_X86_64_GOTPCRELX (call)
        movq    ext_data@GOTPCREL(%rip), %rax  # R_X86_64_REX_GOTPCRELX (mov)
        movl    ext_data@GOTPCREL(%rip), %ecx  # R_X86_64_GOTPCRELX (mov, no REX)
        jmp     *ext_fn@GOTPCREL(%rip)      # GOTPCRELX on a jmp: never relaxed
        leaq    ext_data(%rip), %rdx        # R_X86_64_PC32
        movq    $ext_data, %rsi             # R_X86_64_32S
        movl    $ext_data, %edi             # R_X86_64_32
        movabsq $ext_data, %r8              # R_X86_64_64
        movq    local_table@GOTPCREL(%rip), %r9  # local GOT, relaxable
        call    local_fn                    # R_X86_64_PLT32, local
        ret
        .size   all_kinds, .-all_kinds

        .type   local_fn,@function
local_fn:
        movq    ext_data@GOTPCREL(%rip), %rax  # (REX_)GOTPCRELX in a local function
        addq    ext_data@GOTPCREL(%rip), %rax  # GOTPCRELX on an add: never relaxed
        ret
        .size   local_fn, .-local_fn

        .section .rodata,"a",@progbits
        .p2align 3
local_table:
        .quad   local_fn                    # R_X86_64_64, local
        .quad   ext_fn - .                  # R_X86_64_PC64
        .long   ext_data - .                # R_X86_64_PC32 in data
        .long   0

        .section .data.rel.ro,"aw",@progbits
        .p2align 3
        .globl  vtable
vtable:
        .quad   all_kinds
        .quad   ext_fn
        .quad   local_table + 8
