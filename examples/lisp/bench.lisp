; Timing: cargo run --release --example lisp -- --time examples/lisp/bench.lisp
;    and the same with --interp (the reference interpreter) for comparison.
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(fib 27)
(define (fib1 n) (if (< n 2) n (+ (fib2 (- n 1)) (fib2 (- n 2)))))
(define (fib2 n) (if (< n 2) n (+ (fib1 (- n 1)) (fib1 (- n 2)))))
(fib1 27)
(define (build n) (if (< n 1) nil (cons n (build (- n 1)))))
(define (len l) (if (null? l) 0 (+ 1 (len (cdr l)))))
(define (loop k acc) (if (< k 1) acc (loop (- k 1) (+ acc (len (build 1000))))))
(loop 300 0)
