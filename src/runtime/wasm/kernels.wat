;; ntk-lab's WebAssembly SIMD kernels (float64, f64x2), compiled to dist/kernels.wasm by
;; scripts/build.mjs with wabt at install time. The loader is src/runtime/backend-wasm.ts: it copies
;; operands into this module's linear memory, calls one export, and copies the result back.
;;
;; Conventions: every pointer is a byte offset into the exported memory, every matrix is row-major
;; with an element leading dimension (row stride), all values are f64. Unaligned v128 accesses are
;; allowed by WebAssembly, so nothing here assumes 16-byte alignment (the loader aligns anyway).
;;
;; Exports
;;   gemm       C ← alpha·op(A)·op(B) + beta·C (BLAS semantics), packed and register-blocked
;;   gemv_n     y ← alpha·X·v + beta·y       (rows of X contiguous)
;;   gemv_t     y ← alpha·Xᵀ·v + beta·y      (columns of Xᵀ = rows of X contiguous)
;;   exp, tanh, sigmoid (x, out, n)         vectorized, ≤ ~1–2 ulp (see each function)
;;   add, sub, mul, div (a, b, out, n)      elementwise on contiguous equal shapes
;;   log (x, out, n)                        fdlibm's ln, bitwise V8's Math.log (scalar loop; for tests)
;;   normal_pairs (state, out, pairs, mean, std)   the RNG's normal draws (src/io/rng.ts)
(module
  (memory (export "memory") 1)

  ;; -------------------------------------------------------------------------------------------
  ;; Constants. V8 materializes each v128.const with several instructions at every use, which
  ;; made the polynomial loops about twice slower than loading the same constants from memory;
  ;; so they live in a table at the bottom of the memory, written once by the start function,
  ;; and are read with v128.load64_splat (one instruction). Bytes [0, heap_base) are reserved
  ;; for it; the loader places operands from heap_base on.
  (global (export "heap_base") i32 (i32.const 1024))
  (func $init
    (f64.store offset=0 (i32.const 0) (f64.const 1.4426950408889634))  ;; log2(e)
    (f64.store offset=8 (i32.const 0) (f64.const 6.93147180369123816490e-01))  ;; LN2_HI
    (f64.store offset=16 (i32.const 0) (f64.const 1.90821492927058770002e-10))  ;; LN2_LO
    (f64.store offset=24 (i32.const 0) (f64.const 0.5))  ;; q0 = 1/2!
    (f64.store offset=32 (i32.const 0) (f64.const 1.6666666666666666e-1))  ;; q1 = 1/3!
    (f64.store offset=40 (i32.const 0) (f64.const 4.1666666666666664e-2))  ;; q2 = 1/4!
    (f64.store offset=48 (i32.const 0) (f64.const 8.3333333333333332e-3))  ;; q3 = 1/5!
    (f64.store offset=56 (i32.const 0) (f64.const 1.3888888888888889e-3))  ;; q4 = 1/6!
    (f64.store offset=64 (i32.const 0) (f64.const 1.9841269841269841e-4))  ;; q5 = 1/7!
    (f64.store offset=72 (i32.const 0) (f64.const 2.4801587301587302e-5))  ;; q6 = 1/8!
    (f64.store offset=80 (i32.const 0) (f64.const 2.7557319223985893e-6))  ;; q7 = 1/9!
    (f64.store offset=88 (i32.const 0) (f64.const 2.7557319223985888e-7))  ;; q8 = 1/10!
    (f64.store offset=96 (i32.const 0) (f64.const 2.5052108385441720e-8))  ;; q9 = 1/11!
    (f64.store offset=104 (i32.const 0) (f64.const 2.0876756987868100e-9))  ;; q10 = 1/12!
    (f64.store offset=112 (i32.const 0) (f64.const 1.6059043836821613e-10))  ;; q11 = 1/13!
    (f64.store offset=120 (i32.const 0) (f64.const 1.1470745597729725e-11))  ;; q12 = 1/14!
    (f64.store offset=128 (i32.const 0) (f64.const 1))  ;; one
    (f64.store offset=136 (i32.const 0) (f64.const 2))  ;; two
    (f64.store offset=144 (i32.const 0) (f64.const 134217729))  ;; 2^27 + 1 (Veltkamp split)
    (f64.store offset=152 (i32.const 0) (f64.const -746))  ;; exp clamp below
    (f64.store offset=160 (i32.const 0) (f64.const 710))  ;; exp clamp above
    (f64.store offset=168 (i32.const 0) (f64.const 22))  ;; tanh clamp
    (i64.store offset=176 (i32.const 0) (i64.const 1023))  ;; the exponent bias
    (i64.store offset=184 (i32.const 0) (i64.const 0x8000000000000000))  ;; the sign bit
    (f64.store offset=192 (i32.const 0) (f64.const 0.625))  ;; tanh: polynomial below, exp above
    (f64.store offset=200 (i32.const 0) (f64.const -0.3333333333333333))  ;; tanh P0
    (f64.store offset=208 (i32.const 0) (f64.const 0.13333333333333042))  ;; tanh P1
    (f64.store offset=216 (i32.const 0) (f64.const -0.05396825396789699))  ;; tanh P2
    (f64.store offset=224 (i32.const 0) (f64.const 0.021869488519008305))  ;; tanh P3
    (f64.store offset=232 (i32.const 0) (f64.const -0.008863235103240878))  ;; tanh P4
    (f64.store offset=240 (i32.const 0) (f64.const 0.0035921217511549622))  ;; tanh P5
    (f64.store offset=248 (i32.const 0) (f64.const -0.0014557754120478055))  ;; tanh P6
    (f64.store offset=256 (i32.const 0) (f64.const 0.0005896606577757043))  ;; tanh P7
    (f64.store offset=264 (i32.const 0) (f64.const -0.0002375906496055562))  ;; tanh P8
    (f64.store offset=272 (i32.const 0) (f64.const 9.257116129556769e-05))  ;; tanh P9
    (f64.store offset=280 (i32.const 0) (f64.const -3.12011014257974e-05))  ;; tanh P10
    (f64.store offset=288 (i32.const 0) (f64.const 6.485163482793113e-06)))  ;; tanh P11
  (start $init)

  ;; -------------------------------------------------------------------------------------------
  ;; gemm
  ;;
  ;; Goto/BLIS blocking. For a column panel jc of width nc ≤ NC and a slab pc of depth kc ≤ KC,
  ;; op(B)[pc:+kc, jc:+nc] is packed into micro-panels of NR = 4 columns (each kc×4, k-major:
  ;; for k the 4 values of row k side by side, zero past column nc). For each row block ic of
  ;; height mc ≤ MC, op(A)[ic:+mc, pc:+kc] is packed into micro-panels of MR = 4 rows (each
  ;; kc×4, k-major: for k the 4 values of column k, zero past row mc). Then for every B
  ;; micro-panel (8 KiB at kc = 256: stays in L1) and every A micro-panel (the mc×kc block
  ;; stays in L2), the micro-kernel forms the 4×4 tile Σ_k a(:, k)·b(k, :) in registers.
  ;;
  ;; Register blocking of the micro-kernel: the 4×4 tile is 8 f64x2 accumulators c_i0 (row i,
  ;; columns 0–1) and c_i1 (columns 2–3). Per k: two v128 loads of b(k, 0:4), four splatted
  ;; loads a(i, k), eight f64x2 mul + eight add = 32 flops. 8 accumulators + 2 b + 1 a = 11
  ;; of the 16 xmm registers of x86-64, so nothing spills (a 4×8 tile would need 16 + 4).
  ;;
  ;; The first K-slab writes C ← beta·C + alpha·AB and beta = 0 never reads C (so NaNs in C
  ;; are ignored, as in BLAS); later slabs accumulate C ← C + alpha·AB. Edge tiles (fewer than
  ;; 4 rows or columns left) are computed in full on zero-padded panels and only the valid
  ;; h×w part is stored, through a 128-byte scratch tile.

  ;; Packs op(A)[i0:i0+mc, k0:k0+kc] into MR = 4-row micro-panels at dst. op(A)(i, k) is at
  ;; A + 8·(i·si + k·sk): (si, sk) = (lda, 1) for A, (1, lda) for Aᵀ; likewise for B below.
  ;; Full panels have fast paths (packing was a third of the kernel's time on tall, thin
  ;; products): Aᵀ gives the 4 values of a column contiguously (two v128 copies per k); A gives
  ;; 4 rows, read two k at a time and transposed 4×2 → 2×4 by shuffles. A partial last panel
  ;; (fewer than 4 rows) goes element by element, zero-filled.
  (func $packA (param $A i32) (param $si i32) (param $sk i32) (param $i0 i32) (param $mc i32)
               (param $k0 i32) (param $kc i32) (param $dst i32)
    (local $ip i32) (local $k i32) (local $r i32) (local $h i32) (local $row i32) (local $src i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $kc2 i32) (local $skb i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $kc2 (i32.and (local.get $kc) (i32.const -2)))
    (local.set $ip (i32.const 0))
    (block $done (loop $panels
      (br_if $done (i32.ge_s (local.get $ip) (local.get $mc)))
      ;; h = rows of this panel that exist
      (local.set $h (i32.sub (local.get $mc) (local.get $ip)))
      (if (i32.gt_s (local.get $h) (i32.const 4)) (then (local.set $h (i32.const 4))))
      ;; p0 = &op(A)(i0 + ip, k0)
      (local.set $p0 (i32.add (local.get $A) (i32.shl
        (i32.add (i32.mul (i32.add (local.get $i0) (local.get $ip)) (local.get $si))
                 (i32.mul (local.get $k0) (local.get $sk)))
        (i32.const 3))))
      (if (i32.and (i32.eq (local.get $h) (i32.const 4)) (i32.eq (local.get $si) (i32.const 1)))
        (then
          ;; Aᵀ: column k of the panel is 4 contiguous values
          (local.set $skb (i32.shl (local.get $sk) (i32.const 3)))
          (local.set $k (i32.const 0))
          (block $kdone (loop $ks
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $kc)))
            (v128.store (local.get $dst) (v128.load (local.get $p0)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $p0)))
            (local.set $p0 (i32.add (local.get $p0) (local.get $skb)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $ks))))
      (else (if (i32.and (i32.eq (local.get $h) (i32.const 4)) (i32.eq (local.get $sk) (i32.const 1)))
        (then
          ;; A: 4 contiguous rows; per two k, [a0 a1], [b0 b1], [c0 c1], [d0 d1] →
          ;; [a0 b0], [c0 d0], [a1 b1], [c1 d1]
          (local.set $p1 (i32.add (local.get $p0) (i32.shl (local.get $si) (i32.const 3))))
          (local.set $p2 (i32.add (local.get $p1) (i32.shl (local.get $si) (i32.const 3))))
          (local.set $p3 (i32.add (local.get $p2) (i32.shl (local.get $si) (i32.const 3))))
          (local.set $k (i32.const 0))
          (block $kdone (loop $ks
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $kc2)))
            (local.set $a (v128.load (local.get $p0)))
            (local.set $b (v128.load (local.get $p1)))
            (local.set $c (v128.load (local.get $p2)))
            (local.set $d (v128.load (local.get $p3)))
            (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b)))
            (v128.store offset=16 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $c) (local.get $d)))
            (v128.store offset=32 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b)))
            (v128.store offset=48 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $c) (local.get $d)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
            (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
            (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
            (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
            (local.set $k (i32.add (local.get $k) (i32.const 2)))
            (br $ks)))
          (if (i32.lt_s (local.get $kc2) (local.get $kc))
            (then
              (f64.store (local.get $dst) (f64.load (local.get $p0)))
              (f64.store offset=8 (local.get $dst) (f64.load (local.get $p1)))
              (f64.store offset=16 (local.get $dst) (f64.load (local.get $p2)))
              (f64.store offset=24 (local.get $dst) (f64.load (local.get $p3)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 32))))))
      (else
        ;; partial panel: element by element, rows past h zero
        (local.set $k (i32.const 0))
        (block $kdone (loop $ks
          (br_if $kdone (i32.ge_s (local.get $k) (local.get $kc)))
          (local.set $r (i32.const 0))
          (block $rdone (loop $rs
            (br_if $rdone (i32.ge_s (local.get $r) (i32.const 4)))
            (if (i32.lt_s (local.get $r) (local.get $h))
              (then
                (local.set $row (i32.add (i32.add (local.get $i0) (local.get $ip)) (local.get $r)))
                (local.set $src (i32.add (local.get $A) (i32.shl
                  (i32.add (i32.mul (local.get $row) (local.get $si))
                           (i32.mul (i32.add (local.get $k0) (local.get $k)) (local.get $sk)))
                  (i32.const 3))))
                (f64.store (local.get $dst) (f64.load (local.get $src))))
              (else (f64.store (local.get $dst) (f64.const 0))))
            (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rs)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $ks)))))))
      (local.set $ip (i32.add (local.get $ip) (i32.const 4)))
      (br $panels))))

  ;; Packs op(B)[k0:k0+kc, j0:j0+nc] into NR = 4-column micro-panels at dst; op(B)(k, j) is at
  ;; B + 8·(k·sk + j·sj). Full panels have fast paths: B gives row k of the panel as 4
  ;; contiguous values (two v128 copies per k), Bᵀ gives 4 contiguous rows transposed by
  ;; shuffles as in packA; a partial last panel goes element by element, zero-filled.
  (func $packB (param $B i32) (param $sk i32) (param $sj i32) (param $k0 i32) (param $kc i32)
               (param $j0 i32) (param $nc i32) (param $dst i32)
    (local $jp i32) (local $k i32) (local $t i32) (local $w i32) (local $src i32) (local $col i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $kc2 i32) (local $skb i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $kc2 (i32.and (local.get $kc) (i32.const -2)))
    (local.set $jp (i32.const 0))
    (block $done (loop $panels
      (br_if $done (i32.ge_s (local.get $jp) (local.get $nc)))
      (local.set $w (i32.sub (local.get $nc) (local.get $jp)))
      (if (i32.gt_s (local.get $w) (i32.const 4)) (then (local.set $w (i32.const 4))))
      ;; p0 = &op(B)(k0, j0 + jp)
      (local.set $p0 (i32.add (local.get $B) (i32.shl
        (i32.add (i32.mul (local.get $k0) (local.get $sk))
                 (i32.mul (i32.add (local.get $j0) (local.get $jp)) (local.get $sj)))
        (i32.const 3))))
      (if (i32.and (i32.eq (local.get $w) (i32.const 4)) (i32.eq (local.get $sj) (i32.const 1)))
        (then
          (local.set $skb (i32.shl (local.get $sk) (i32.const 3)))
          (local.set $k (i32.const 0))
          (block $kdone (loop $ks
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $kc)))
            (v128.store (local.get $dst) (v128.load (local.get $p0)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $p0)))
            (local.set $p0 (i32.add (local.get $p0) (local.get $skb)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $ks))))
      (else (if (i32.and (i32.eq (local.get $w) (i32.const 4)) (i32.eq (local.get $sk) (i32.const 1)))
        (then
          (local.set $p1 (i32.add (local.get $p0) (i32.shl (local.get $sj) (i32.const 3))))
          (local.set $p2 (i32.add (local.get $p1) (i32.shl (local.get $sj) (i32.const 3))))
          (local.set $p3 (i32.add (local.get $p2) (i32.shl (local.get $sj) (i32.const 3))))
          (local.set $k (i32.const 0))
          (block $kdone (loop $ks
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $kc2)))
            (local.set $a (v128.load (local.get $p0)))
            (local.set $b (v128.load (local.get $p1)))
            (local.set $c (v128.load (local.get $p2)))
            (local.set $d (v128.load (local.get $p3)))
            (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b)))
            (v128.store offset=16 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $c) (local.get $d)))
            (v128.store offset=32 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b)))
            (v128.store offset=48 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $c) (local.get $d)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
            (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
            (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
            (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
            (local.set $k (i32.add (local.get $k) (i32.const 2)))
            (br $ks)))
          (if (i32.lt_s (local.get $kc2) (local.get $kc))
            (then
              (f64.store (local.get $dst) (f64.load (local.get $p0)))
              (f64.store offset=8 (local.get $dst) (f64.load (local.get $p1)))
              (f64.store offset=16 (local.get $dst) (f64.load (local.get $p2)))
              (f64.store offset=24 (local.get $dst) (f64.load (local.get $p3)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 32))))))
      (else
        (local.set $k (i32.const 0))
        (block $kdone (loop $ks
          (br_if $kdone (i32.ge_s (local.get $k) (local.get $kc)))
          (local.set $t (i32.const 0))
          (block $tdone (loop $ts
            (br_if $tdone (i32.ge_s (local.get $t) (i32.const 4)))
            (if (i32.lt_s (local.get $t) (local.get $w))
              (then
                (local.set $col (i32.add (i32.add (local.get $j0) (local.get $jp)) (local.get $t)))
                (local.set $src (i32.add (local.get $B) (i32.shl
                  (i32.add (i32.mul (i32.add (local.get $k0) (local.get $k)) (local.get $sk))
                           (i32.mul (local.get $col) (local.get $sj)))
                  (i32.const 3))))
                (f64.store (local.get $dst) (f64.load (local.get $src))))
              (else (f64.store (local.get $dst) (f64.const 0))))
            (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $ts)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $ks)))))))
      (local.set $jp (i32.add (local.get $jp) (i32.const 4)))
      (br $panels))))

  ;; The 4×4 micro-kernel: the tile at C (row stride ldcb bytes) ← bet·C + alpha·Σ_k a_k b_kᵀ,
  ;; a_k = Ap[4k : 4k+4] (a column of the A micro-panel), b_k = Bp[4k : 4k+4]; only the h×w
  ;; top-left part of the tile is written. The k loop is unrolled by two.
  (func $kernel4x4 (param $kc i32) (param $pa i32) (param $pb i32) (param $pc i32) (param $ldcb i32)
                   (param $alpha f64) (param $bet f64) (param $h i32) (param $w i32) (param $tile i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $a v128) (local $va v128) (local $vb v128)
    (local $n i32) (local $i i32) (local $j i32) (local $p i32) (local $q i32) (local $x f64)
    ;; odd kc: one step first, then pairs
    (if (i32.and (local.get $kc) (i32.const 1))
      (then
        (local.set $b0 (v128.load (local.get $pb)))
        (local.set $b1 (v128.load offset=16 (local.get $pb)))
        (local.set $a (v128.load64_splat (local.get $pa)))
        (local.set $c00 (f64x2.mul (local.get $a) (local.get $b0)))
        (local.set $c01 (f64x2.mul (local.get $a) (local.get $b1)))
        (local.set $a (v128.load64_splat offset=8 (local.get $pa)))
        (local.set $c10 (f64x2.mul (local.get $a) (local.get $b0)))
        (local.set $c11 (f64x2.mul (local.get $a) (local.get $b1)))
        (local.set $a (v128.load64_splat offset=16 (local.get $pa)))
        (local.set $c20 (f64x2.mul (local.get $a) (local.get $b0)))
        (local.set $c21 (f64x2.mul (local.get $a) (local.get $b1)))
        (local.set $a (v128.load64_splat offset=24 (local.get $pa)))
        (local.set $c30 (f64x2.mul (local.get $a) (local.get $b0)))
        (local.set $c31 (f64x2.mul (local.get $a) (local.get $b1)))
        (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
        (local.set $pb (i32.add (local.get $pb) (i32.const 32)))))
    (local.set $n (i32.shr_u (local.get $kc) (i32.const 1)))
    (block $done (loop $ks
      (br_if $done (i32.eqz (local.get $n)))
      ;; k
      (local.set $b0 (v128.load (local.get $pb)))
      (local.set $b1 (v128.load offset=16 (local.get $pb)))
      (local.set $a (v128.load64_splat (local.get $pa)))
      (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load64_splat offset=8 (local.get $pa)))
      (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load64_splat offset=16 (local.get $pa)))
      (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load64_splat offset=24 (local.get $pa)))
      (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $a) (local.get $b1))))
      ;; k + 1
      (local.set $b0 (v128.load offset=32 (local.get $pb)))
      (local.set $b1 (v128.load offset=48 (local.get $pb)))
      (local.set $a (v128.load64_splat offset=32 (local.get $pa)))
      (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load64_splat offset=40 (local.get $pa)))
      (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load64_splat offset=48 (local.get $pa)))
      (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load64_splat offset=56 (local.get $pa)))
      (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $a) (local.get $b0))))
      (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $a) (local.get $b1))))
      (local.set $pa (i32.add (local.get $pa) (i32.const 64)))
      (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $ks)))
    (local.set $va (f64x2.splat (local.get $alpha)))
    (if (i32.and (i32.eq (local.get $h) (i32.const 4)) (i32.eq (local.get $w) (i32.const 4)))
      (then
        (if (f64.eq (local.get $bet) (f64.const 0))
          (then
            (v128.store (local.get $pc) (f64x2.mul (local.get $va) (local.get $c00)))
            (v128.store offset=16 (local.get $pc) (f64x2.mul (local.get $va) (local.get $c01)))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store (local.get $pc) (f64x2.mul (local.get $va) (local.get $c10)))
            (v128.store offset=16 (local.get $pc) (f64x2.mul (local.get $va) (local.get $c11)))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store (local.get $pc) (f64x2.mul (local.get $va) (local.get $c20)))
            (v128.store offset=16 (local.get $pc) (f64x2.mul (local.get $va) (local.get $c21)))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store (local.get $pc) (f64x2.mul (local.get $va) (local.get $c30)))
            (v128.store offset=16 (local.get $pc) (f64x2.mul (local.get $va) (local.get $c31))))
          (else
            (local.set $vb (f64x2.splat (local.get $bet)))
            (v128.store (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c00))))
            (v128.store offset=16 (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load offset=16 (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c01))))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c10))))
            (v128.store offset=16 (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load offset=16 (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c11))))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c20))))
            (v128.store offset=16 (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load offset=16 (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c21))))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c30))))
            (v128.store offset=16 (local.get $pc) (f64x2.add (f64x2.mul (local.get $vb) (v128.load offset=16 (local.get $pc))) (f64x2.mul (local.get $va) (local.get $c31))))))
        (return)))
    ;; edge tile: spill the scaled accumulators to the scratch tile, store the valid h×w part
    (v128.store offset=0 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c00)))
    (v128.store offset=16 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c01)))
    (v128.store offset=32 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c10)))
    (v128.store offset=48 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c11)))
    (v128.store offset=64 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c20)))
    (v128.store offset=80 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c21)))
    (v128.store offset=96 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c30)))
    (v128.store offset=112 (local.get $tile) (f64x2.mul (local.get $va) (local.get $c31)))
    (local.set $i (i32.const 0))
    (block $idone (loop $is
      (br_if $idone (i32.ge_s (local.get $i) (local.get $h)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $js
        (br_if $jdone (i32.ge_s (local.get $j) (local.get $w)))
        (local.set $p (i32.add (local.get $pc) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $q (i32.add (local.get $tile) (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $j)) (i32.const 3))))
        (local.set $x (f64.load (local.get $q)))
        (if (f64.ne (local.get $bet) (f64.const 0))
          (then (local.set $x (f64.add (f64.mul (local.get $bet) (f64.load (local.get $p))) (local.get $x)))))
        (f64.store (local.get $p) (local.get $x))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $js)))
      (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $is))))

  ;; C ← alpha·op(A)·op(B) + beta·C for op(A) M×K, op(B) K×N (M, N, K ≥ 1). lda, ldb, ldc are
  ;; element row strides; MC, KC, NC the cache blocks (MC a multiple of 4); Ap (MC·KC doubles),
  ;; Bp (KC·⌈NC/4⌉·4 doubles) and tile (16 doubles) are scratch.
  (func (export "gemm") (param $transA i32) (param $transB i32) (param $M i32) (param $N i32) (param $K i32)
        (param $alpha f64) (param $A i32) (param $lda i32) (param $B i32) (param $ldb i32)
        (param $beta f64) (param $C i32) (param $ldc i32)
        (param $MC i32) (param $KC i32) (param $NC i32) (param $Ap i32) (param $Bp i32) (param $tile i32)
    (local $sai i32) (local $sak i32) (local $sbk i32) (local $sbj i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32)
    (local $jr i32) (local $ir i32) (local $w i32) (local $h i32) (local $bet f64) (local $ldcb i32)
    (local $cblk i32)
    ;; element strides of op(A)(i, k) and op(B)(k, j)
    (if (local.get $transA)
      (then (local.set $sai (i32.const 1)) (local.set $sak (local.get $lda)))
      (else (local.set $sai (local.get $lda)) (local.set $sak (i32.const 1))))
    (if (local.get $transB)
      (then (local.set $sbk (i32.const 1)) (local.set $sbj (local.get $ldb)))
      (else (local.set $sbk (local.get $ldb)) (local.set $sbj (i32.const 1))))
    (local.set $ldcb (i32.shl (local.get $ldc) (i32.const 3)))
    (local.set $jc (i32.const 0))
    (block $jcdone (loop $jcs
      (br_if $jcdone (i32.ge_s (local.get $jc) (local.get $N)))
      (local.set $nc (i32.sub (local.get $N) (local.get $jc)))
      (if (i32.gt_s (local.get $nc) (local.get $NC)) (then (local.set $nc (local.get $NC))))
      (local.set $pc (i32.const 0))
      (block $pcdone (loop $pcs
        (br_if $pcdone (i32.ge_s (local.get $pc) (local.get $K)))
        (local.set $kc (i32.sub (local.get $K) (local.get $pc)))
        (if (i32.gt_s (local.get $kc) (local.get $KC)) (then (local.set $kc (local.get $KC))))
        (local.set $bet (if (result f64) (i32.eqz (local.get $pc)) (then (local.get $beta)) (else (f64.const 1))))
        (call $packB (local.get $B) (local.get $sbk) (local.get $sbj) (local.get $pc) (local.get $kc)
                     (local.get $jc) (local.get $nc) (local.get $Bp))
        (local.set $ic (i32.const 0))
        (block $icdone (loop $ics
          (br_if $icdone (i32.ge_s (local.get $ic) (local.get $M)))
          (local.set $mc (i32.sub (local.get $M) (local.get $ic)))
          (if (i32.gt_s (local.get $mc) (local.get $MC)) (then (local.set $mc (local.get $MC))))
          (call $packA (local.get $A) (local.get $sai) (local.get $sak) (local.get $ic) (local.get $mc)
                       (local.get $pc) (local.get $kc) (local.get $Ap))
          (local.set $jr (i32.const 0))
          (block $jrdone (loop $jrs
            (br_if $jrdone (i32.ge_s (local.get $jr) (local.get $nc)))
            (local.set $w (i32.sub (local.get $nc) (local.get $jr)))
            (if (i32.gt_s (local.get $w) (i32.const 4)) (then (local.set $w (i32.const 4))))
            ;; C + 8·(ic·ldc + jc + jr)
            (local.set $cblk (i32.add (local.get $C) (i32.shl
              (i32.add (i32.mul (local.get $ic) (local.get $ldc)) (i32.add (local.get $jc) (local.get $jr)))
              (i32.const 3))))
            (local.set $ir (i32.const 0))
            (block $irdone (loop $irs
              (br_if $irdone (i32.ge_s (local.get $ir) (local.get $mc)))
              (local.set $h (i32.sub (local.get $mc) (local.get $ir)))
              (if (i32.gt_s (local.get $h) (i32.const 4)) (then (local.set $h (i32.const 4))))
              (call $kernel4x4 (local.get $kc)
                (i32.add (local.get $Ap) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 3)))
                (i32.add (local.get $Bp) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 3)))
                (i32.add (local.get $cblk) (i32.mul (local.get $ir) (local.get $ldcb)))
                (local.get $ldcb) (local.get $alpha) (local.get $bet) (local.get $h) (local.get $w) (local.get $tile))
              (local.set $ir (i32.add (local.get $ir) (i32.const 4)))
              (br $irs)))
            (local.set $jr (i32.add (local.get $jr) (i32.const 4)))
            (br $jrs)))
          (local.set $ic (i32.add (local.get $ic) (local.get $MC)))
          (br $ics)))
        (local.set $pc (i32.add (local.get $pc) (local.get $KC)))
        (br $pcs)))
      (local.set $jc (i32.add (local.get $jc) (local.get $NC)))
      (br $jcs))))

  ;; -------------------------------------------------------------------------------------------
  ;; gemv: memory-bound, so the point is to stream X once with v128 loads.

  ;; Both sum over k in increasing order, one accumulator per output, exactly as the JS kernels
  ;; do (kernels-js.ts, gemv): the results are bitwise equal, so whichever backend a call goes to
  ;; (the wasm backend sends small calls to JS) gives the same numbers.

  ;; y_i ← alpha·Σ_k X[i·ldx + k]·v_k + beta·y_i for i < m (rows of X contiguous; v, y
  ;; contiguous; beta = 0 does not read y). Two rows at a time in the two lanes: per two k,
  ;; the 2×2 block [X_i(k, k+1); X_(i+1)(k, k+1)] is loaded as two rows and transposed by two
  ;; shuffles into columns, each multiplied by a splatted v_k and added in k order.
  (func (export "gemv_n") (param $m i32) (param $K i32) (param $alpha f64) (param $X i32) (param $ldx i32)
        (param $v i32) (param $beta f64) (param $y i32)
    (local $i i32) (local $k i32) (local $K2 i32) (local $p0 i32) (local $p1 i32) (local $q i32) (local $ldxb i32)
    (local $acc v128) (local $r0 v128) (local $r1 v128) (local $s f64) (local $o i32) (local $res v128)
    (local.set $K2 (i32.and (local.get $K) (i32.const -2)))
    (local.set $ldxb (i32.shl (local.get $ldx) (i32.const 3)))
    (local.set $p0 (local.get $X))
    (block $idone (loop $is
      (br_if $idone (i32.ge_s (i32.add (local.get $i) (i32.const 1)) (local.get $m)))
      (local.set $p1 (i32.add (local.get $p0) (local.get $ldxb)))
      (local.set $acc (v128.const i64x2 0 0))
      (local.set $q (local.get $v))
      (local.set $k (i32.const 0))
      (block $kdone (loop $ks
        (br_if $kdone (i32.ge_s (local.get $k) (local.get $K2)))
        (local.set $r0 (v128.load (i32.add (local.get $p0) (i32.shl (local.get $k) (i32.const 3)))))
        (local.set $r1 (v128.load (i32.add (local.get $p1) (i32.shl (local.get $k) (i32.const 3)))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $r0) (local.get $r1))
          (v128.load64_splat (local.get $q)))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $r0) (local.get $r1))
          (v128.load64_splat offset=8 (local.get $q)))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $ks)))
      (if (i32.lt_s (local.get $k) (local.get $K))
        (then
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
            (v128.load64_lane 1 (i32.add (local.get $p1) (i32.shl (local.get $k) (i32.const 3)))
              (v128.load64_zero (i32.add (local.get $p0) (i32.shl (local.get $k) (i32.const 3)))))
            (v128.load64_splat (local.get $q)))))))
      (local.set $o (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3))))
      (local.set $res (f64x2.mul (f64x2.splat (local.get $alpha)) (local.get $acc)))
      (if (f64.ne (local.get $beta) (f64.const 0))
        (then (local.set $res (f64x2.add (f64x2.mul (f64x2.splat (local.get $beta)) (v128.load (local.get $o))) (local.get $res)))))
      (v128.store (local.get $o) (local.get $res))
      (local.set $p0 (i32.add (local.get $p1) (local.get $ldxb)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $is)))
    ;; odd m: the last row alone
    (if (i32.lt_s (local.get $i) (local.get $m))
      (then
        (local.set $s (f64.const 0))
        (local.set $k (i32.const 0))
        (block $kdone (loop $ks
          (br_if $kdone (i32.ge_s (local.get $k) (local.get $K)))
          (local.set $s (f64.add (local.get $s) (f64.mul
            (f64.load (i32.add (local.get $p0) (i32.shl (local.get $k) (i32.const 3))))
            (f64.load (i32.add (local.get $v) (i32.shl (local.get $k) (i32.const 3)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $ks)))
        (local.set $o (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $s (f64.mul (local.get $alpha) (local.get $s)))
        (if (f64.ne (local.get $beta) (f64.const 0))
          (then (local.set $s (f64.add (f64.mul (local.get $beta) (f64.load (local.get $o))) (local.get $s)))))
        (f64.store (local.get $o) (local.get $s)))))

  ;; y_i ← alpha·Σ_k X[k·ldx + i]·v_k + beta·y_i for i < m: the rows of X (each m contiguous
  ;; values) are accumulated into the scratch t (m doubles), t ← t + X_k·v_k for k = 0, 1, …
  ;; (two i per f64x2), then y ← alpha·t (+ beta·y).
  (func (export "gemv_t") (param $m i32) (param $K i32) (param $alpha f64) (param $X i32) (param $ldx i32)
        (param $v i32) (param $beta f64) (param $y i32) (param $t i32)
    (local $k i32) (local $i i32) (local $m2 i32) (local $r0 i32) (local $ldxb i32)
    (local $a0 v128) (local $o i32) (local $s f64)
    (local.set $m2 (i32.and (local.get $m) (i32.const -2)))
    (local.set $ldxb (i32.shl (local.get $ldx) (i32.const 3)))
    (memory.fill (local.get $t) (i32.const 0) (i32.shl (local.get $m) (i32.const 3)))
    (local.set $r0 (local.get $X))
    (block $kdone (loop $ks
      (br_if $kdone (i32.ge_s (local.get $k) (local.get $K)))
      (local.set $a0 (v128.load64_splat (i32.add (local.get $v) (i32.shl (local.get $k) (i32.const 3)))))
      (local.set $i (i32.const 0))
      (block $idone (loop $is
        (br_if $idone (i32.ge_s (local.get $i) (local.get $m2)))
        (local.set $o (i32.shl (local.get $i) (i32.const 3)))
        (v128.store (i32.add (local.get $t) (local.get $o))
          (f64x2.add (v128.load (i32.add (local.get $t) (local.get $o)))
                     (f64x2.mul (v128.load (i32.add (local.get $r0) (local.get $o))) (local.get $a0))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $is)))
      (if (i32.lt_s (local.get $m2) (local.get $m))
        (then
          (local.set $o (i32.shl (local.get $m2) (i32.const 3)))
          (f64.store (i32.add (local.get $t) (local.get $o))
            (f64.add (f64.load (i32.add (local.get $t) (local.get $o)))
                     (f64.mul (f64.load (i32.add (local.get $r0) (local.get $o))) (f64x2.extract_lane 0 (local.get $a0)))))))
      (local.set $r0 (i32.add (local.get $r0) (local.get $ldxb)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $ks)))
    ;; y ← alpha·t + beta·y
    (local.set $i (i32.const 0))
    (block $ydone (loop $ys
      (br_if $ydone (i32.ge_s (local.get $i) (local.get $m)))
      (local.set $o (i32.shl (local.get $i) (i32.const 3)))
      (local.set $s (f64.mul (local.get $alpha) (f64.load (i32.add (local.get $t) (local.get $o)))))
      (if (f64.ne (local.get $beta) (f64.const 0))
        (then (local.set $s (f64.add (f64.mul (local.get $beta) (f64.load (i32.add (local.get $y) (local.get $o)))) (local.get $s)))))
      (f64.store (i32.add (local.get $y) (local.get $o)) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $ys))))

  ;; -------------------------------------------------------------------------------------------
  ;; exp, tanh, sigmoid
  ;;
  ;; Range reduction (the same lines in each of the three loops): y = k·ln2 + r with
  ;; k = nearest(y/ln2), |r| ≤ ln2/2 ≈ 0.347 (up to the rounding of y/ln2). ln2 = LN2_HI + LN2_LO
  ;; with LN2_HI having 32 trailing zero bits (fdlibm's split), so k·LN2_HI is exact for
  ;; |k| < 2²⁰ and y − k·LN2_HI is exact (Sterbenz). r = (y − k·LN2_HI) − k·LN2_LO is rounded;
  ;; its rounding error c = ((y − k·LN2_HI) − r) − k·LN2_LO is recovered exactly (Fast2Sum)
  ;; and carried: e^(r+c) − 1 ≈ (e^r − 1) + c·(1 + r).
  ;;
  ;; e^r − 1 = r + h, h = r²·Q(r) + c·(1 + r), Q(r) = Σ_{i=0}^{12} r^i/(i+2)! (Taylor; the first
  ;; omitted term r^15/15! is < 3·10⁻¹⁹·|r| for |r| ≤ 0.35, far below an ulp). Keeping r and h
  ;; apart keeps full relative accuracy for tiny r (h underflows harmlessly, leaving r). Q is
  ;; evaluated by Estrin's scheme (pairs q_i + q_(i+1)·r, combined with r², r⁴, r⁸): 4 levels
  ;; of multiply-add instead of Horner's 12, which matters because the loop is latency-bound.
  ;;
  ;; 2^k is built from exponent bits ((k + 1023) << 52 after an exact conversion to integers).
  ;;
  ;; Engine notes (measured on V8 11, Node 20): everything is inlined into the loops, because a
  ;; call returning several v128 values spills them through the stack and doubled the time;
  ;; clamps use pmin/pmax (one instruction each) rather than min/max, whose NaN and ±0 rules
  ;; cost V8 about eight; pmin(x, c) = c < x ? c : x still returns a NaN x unchanged.
  ;;
  ;; Error-free transformations (no FMA in WebAssembly SIMD, so Dekker's product):
  ;;   two_sum(a, b) = (s, e), s = fl(a + b), s + e = a + b exactly (Knuth, 6 ops; fast_two_sum,
  ;;                   3 ops, when |a| ≥ |b|);
  ;;   div_dd         (nh + nl)/(dh + dl) to ≈ 0.5 ulp: q = fl(nh/dh); p + pe = q·dh exactly by
  ;;                  the Veltkamp split (2²⁷ + 1) and Dekker; z = q + ((nh − p − pe) + nl − q·dl)/dh.
  ;;
  ;; Each loop takes two lanes at a time; an odd last element is loaded alone (load64_zero, the
  ;; other lane 0) and stored alone (store64_lane). x and out may alias (a pair is read first).

  ;; exp(x) = 2^k·(1 + (r + h)) for y = x clamped to [−746, 710]. 2^k is applied as the two
  ;; factors 2^⌊k/2⌋·2^(k−⌊k/2⌋), each a normal number, so the product overflows to +∞ above
  ;; ln(DBL_MAX) ≈ 709.78 and underflows, with one rounding through the subnormals, to 0 below
  ;; ≈ −745.13, without special cases. NaN propagates (the integer conversion of NaN gives 0,
  ;; harmlessly). Error ≤ 1 ulp against Math.exp over [−750, 712] (test/runtime/backend-wasm).
  (func (export "exp") (param $x i32) (param $out i32) (param $n i32)
    (local $end i32) (local $x0 v128) (local $y v128) (local $k v128) (local $rhi v128) (local $lo v128) (local $r v128) (local $c v128)
    (local $r2 v128) (local $r4 v128) (local $q v128) (local $h v128) (local $k1 v128) (local $bb v128) (local $z v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      ;; two lanes; the odd last element is loaded alone (upper lane 0) and stored alone
      (if (i32.ge_u (i32.sub (local.get $end) (local.get $x)) (i32.const 16))
        (then (local.set $x0 (v128.load (local.get $x))))
        (else (local.set $x0 (v128.load64_zero (local.get $x)))))
      (local.set $y (f64x2.pmax (f64x2.pmin (local.get $x0) (v128.load64_splat offset=160 (i32.const 0))) (v128.load64_splat offset=152 (i32.const 0))))
      ;; range reduction y = k·ln2 + r (+ c), e^r − 1 = r + h
      (local.set $k (f64x2.nearest (f64x2.mul (local.get $y) (v128.load64_splat offset=0 (i32.const 0)))))
      (local.set $rhi (f64x2.sub (local.get $y) (f64x2.mul (local.get $k) (v128.load64_splat offset=8 (i32.const 0)))))
      (local.set $lo (f64x2.mul (local.get $k) (v128.load64_splat offset=16 (i32.const 0))))
      (local.set $r (f64x2.sub (local.get $rhi) (local.get $lo)))
      (local.set $c (f64x2.sub (f64x2.sub (local.get $rhi) (local.get $r)) (local.get $lo)))
      (local.set $r2 (f64x2.mul (local.get $r) (local.get $r)))
      (local.set $r4 (f64x2.mul (local.get $r2) (local.get $r2)))
      ;; Q(r) by Estrin
      (local.set $q (f64x2.add (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=24 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=32 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=40 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=48 (i32.const 0)) (local.get $r))) (local.get $r2))) (f64x2.mul (f64x2.add (f64x2.add (v128.load64_splat offset=56 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=64 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=72 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=80 (i32.const 0)) (local.get $r))) (local.get $r2))) (local.get $r4))) (f64x2.mul (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=88 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=96 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=104 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=112 (i32.const 0)) (local.get $r))) (local.get $r2))) (f64x2.mul (v128.load64_splat offset=120 (i32.const 0)) (local.get $r4))) (f64x2.mul (local.get $r4) (local.get $r4)))))
      (local.set $h (f64x2.add (f64x2.mul (local.get $r2) (local.get $q)) (f64x2.mul (local.get $c) (f64x2.add (local.get $r) (v128.load64_splat offset=128 (i32.const 0))))))
      ;; 2^k = 2^k1·2^(k−k1), k1 = ⌊k/2⌋: both factors normal
      (local.set $k1 (f64x2.floor (f64x2.mul (local.get $k) (v128.load64_splat offset=24 (i32.const 0)))))
      (local.set $z (f64x2.mul (f64x2.mul (f64x2.add (v128.load64_splat offset=128 (i32.const 0)) (f64x2.add (local.get $r) (local.get $h))) (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (local.get $k1))) (v128.load64_splat offset=176 (i32.const 0))) (i32.const 52))) (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (f64x2.sub (local.get $k) (local.get $k1)))) (v128.load64_splat offset=176 (i32.const 0))) (i32.const 52))))
      (if (i32.ge_u (i32.sub (local.get $end) (local.get $x)) (i32.const 16))
        (then (v128.store (local.get $out) (local.get $z)))
        (else (v128.store64_lane 0 (local.get $out) (local.get $z))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l))))

  ;; tanh(x) = sign(x)·z(|x|), two formulas on either side of a = |x| = 0.625 (a lane takes its
  ;; own, so a value never depends on its neighbour; the scalar twin in wasm/scalar.ts repeats
  ;; both operation for operation):
  ;;  a < 0.625:  z = a + (a·s)·P(s), s = a², P of degree 11 the Chebyshev fit of
  ;;              (tanh √s − √s)/s^{3/2} on [0, 0.625²] (error 4e-18; coefficients by mpmath);
  ;;              the correction is < 12% of a, so z is within 0.87 ulp of tanh a.
  ;;  a ≥ 0.625:  z = 1 − 2/(1 + e^{2a}) with e^{2a} = 2^k·(1 + (r + h)) kept as eh + el (the
  ;;              exp reduction below; 2^k exact for k ≤ 64), d = 1 + e a fast two_sum, and
  ;;              2/(dh + dl) ≈ q − q²·dl/2 with q = 2/dh (the dropped term is 2⁻¹⁰⁶ relative);
  ;;              2/d ≤ 0.45 < ½ ≤ z, so its error is at most a quarter ulp of z: within 1.0 ulp.
  ;;              a is clamped to 22 (2/(1 + e^{44}) < 2⁻⁶², z rounds to 1).
  ;; Both error bounds were measured against mpmath's tanh on 4·10⁵ points; the test bound is
  ;; 2 ulp against Math.tanh. NaN propagates (it takes the exp side); tanh(−0) = −0.
  ;; The polynomial side has no division and a third of the exp side's operations: a pair of
  ;; lanes that are both below 0.625 (most of a sigmoid network's pre-activations) skips the
  ;; exp side, and a pair both above skips the polynomial.
  (func (export "tanh") (param $x i32) (param $out i32) (param $n i32)
    (local $end i32) (local $x0 v128) (local $a v128) (local $small v128) (local $zs v128) (local $zl v128) (local $z v128)
    (local $s v128) (local $s2 v128) (local $s4 v128)
    (local $y v128) (local $k v128) (local $rhi v128) (local $lo v128) (local $r v128) (local $c v128)
    (local $r2 v128) (local $r4 v128) (local $q v128) (local $h v128) (local $tt v128) (local $te v128) (local $eh v128) (local $el v128)
    (local $sc v128) (local $dh v128) (local $dl v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      ;; two lanes; the odd last element is loaded alone (upper lane 0) and stored alone
      (if (i32.ge_u (i32.sub (local.get $end) (local.get $x)) (i32.const 16))
        (then (local.set $x0 (v128.load (local.get $x))))
        (else (local.set $x0 (v128.load64_zero (local.get $x)))))
      (local.set $a (f64x2.abs (local.get $x0)))
      (local.set $small (f64x2.lt (local.get $a) (v128.load64_splat offset=192 (i32.const 0))))
      (if (v128.any_true (local.get $small))
        (then
          ;; zs = a + (a·s)·P(s), P by Estrin
          (local.set $s (f64x2.mul (local.get $a) (local.get $a)))
          (local.set $s2 (f64x2.mul (local.get $s) (local.get $s)))
          (local.set $s4 (f64x2.mul (local.get $s2) (local.get $s2)))
          (local.set $q (f64x2.add (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=200 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=208 (i32.const 0)) (local.get $s))) (f64x2.mul (f64x2.add (v128.load64_splat offset=216 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=224 (i32.const 0)) (local.get $s))) (local.get $s2))) (f64x2.mul (f64x2.add (f64x2.add (v128.load64_splat offset=232 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=240 (i32.const 0)) (local.get $s))) (f64x2.mul (f64x2.add (v128.load64_splat offset=248 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=256 (i32.const 0)) (local.get $s))) (local.get $s2))) (local.get $s4))) (f64x2.mul (f64x2.add (f64x2.add (v128.load64_splat offset=264 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=272 (i32.const 0)) (local.get $s))) (f64x2.mul (f64x2.add (v128.load64_splat offset=280 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=288 (i32.const 0)) (local.get $s))) (local.get $s2))) (f64x2.mul (local.get $s4) (local.get $s4)))))
          (local.set $zs (f64x2.add (local.get $a) (f64x2.mul (f64x2.mul (local.get $a) (local.get $s)) (local.get $q))))))
      (if (i32.eqz (i64x2.all_true (local.get $small)))
        (then
          ;; y = 2·min(a, 22); range reduction y = k·ln2 + r (+ c), e^r − 1 = r + h
          (local.set $y (f64x2.pmin (local.get $a) (v128.load64_splat offset=168 (i32.const 0))))
          (local.set $y (f64x2.add (local.get $y) (local.get $y)))
          (local.set $k (f64x2.nearest (f64x2.mul (local.get $y) (v128.load64_splat offset=0 (i32.const 0)))))
          (local.set $rhi (f64x2.sub (local.get $y) (f64x2.mul (local.get $k) (v128.load64_splat offset=8 (i32.const 0)))))
          (local.set $lo (f64x2.mul (local.get $k) (v128.load64_splat offset=16 (i32.const 0))))
          (local.set $r (f64x2.sub (local.get $rhi) (local.get $lo)))
          (local.set $c (f64x2.sub (f64x2.sub (local.get $rhi) (local.get $r)) (local.get $lo)))
          (local.set $r2 (f64x2.mul (local.get $r) (local.get $r)))
          (local.set $r4 (f64x2.mul (local.get $r2) (local.get $r2)))
          ;; Q(r) by Estrin
          (local.set $q (f64x2.add (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=24 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=32 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=40 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=48 (i32.const 0)) (local.get $r))) (local.get $r2))) (f64x2.mul (f64x2.add (f64x2.add (v128.load64_splat offset=56 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=64 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=72 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=80 (i32.const 0)) (local.get $r))) (local.get $r2))) (local.get $r4))) (f64x2.mul (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=88 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=96 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=104 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=112 (i32.const 0)) (local.get $r))) (local.get $r2))) (f64x2.mul (v128.load64_splat offset=120 (i32.const 0)) (local.get $r4))) (f64x2.mul (local.get $r4) (local.get $r4)))))
          (local.set $h (f64x2.add (f64x2.mul (local.get $r2) (local.get $q)) (f64x2.mul (local.get $c) (f64x2.add (local.get $r) (v128.load64_splat offset=128 (i32.const 0))))))
          ;; e = 2^k·(1 + (r + h)) as eh + el (fast_two_sums: |r| ≥ |h|, 1 ≥ |r + h|)
          (local.set $tt (f64x2.add (local.get $r) (local.get $h)))
          (local.set $te (f64x2.sub (local.get $h) (f64x2.sub (local.get $tt) (local.get $r))))
          (local.set $eh (f64x2.add (v128.load64_splat offset=128 (i32.const 0)) (local.get $tt)))
          (local.set $el (f64x2.add (f64x2.sub (local.get $tt) (f64x2.sub (local.get $eh) (v128.load64_splat offset=128 (i32.const 0)))) (local.get $te)))
          (local.set $sc (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (local.get $k))) (v128.load64_splat offset=176 (i32.const 0))) (i32.const 52)))
          (local.set $eh (f64x2.mul (local.get $eh) (local.get $sc)))
          (local.set $el (f64x2.mul (local.get $el) (local.get $sc)))
          ;; d = e + 1 (fast_two_sum: e ≥ 1), q = 2/dh, 2/d ≈ q − q²·dl/2, zl = 1 − 2/d
          (local.set $dh (f64x2.add (local.get $eh) (v128.load64_splat offset=128 (i32.const 0))))
          (local.set $dl (f64x2.add (f64x2.sub (v128.load64_splat offset=128 (i32.const 0)) (f64x2.sub (local.get $dh) (local.get $eh))) (local.get $el)))
          (local.set $q (f64x2.div (v128.load64_splat offset=136 (i32.const 0)) (local.get $dh)))
          (local.set $zl (f64x2.sub (v128.load64_splat offset=128 (i32.const 0)) (f64x2.sub (local.get $q) (f64x2.mul (f64x2.mul (local.get $q) (local.get $q)) (f64x2.mul (local.get $dl) (v128.load64_splat offset=24 (i32.const 0)))))))))
      (local.set $z (v128.bitselect (local.get $zs) (local.get $zl) (local.get $small)))
      ;; sign of x
      (local.set $z (v128.or (local.get $z) (v128.and (local.get $x0) (v128.load64_splat offset=184 (i32.const 0)))))
      (if (i32.ge_u (i32.sub (local.get $end) (local.get $x)) (i32.const 16))
        (then (v128.store (local.get $out) (local.get $z)))
        (else (v128.store64_lane 0 (local.get $out) (local.get $z))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l))))
  ;; sigmoid(x) = 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0, with e = exp(−|x|) ≤ 1 as
  ;; eh + el (1 + (r + h) by fast_two_sums, then the exact scaling by 2^k): neither form
  ;; cancels and the quotient is div_dd's. σ(−∞) = 0, σ(+∞) = 1, NaN propagates.
  (func (export "sigmoid") (param $x i32) (param $out i32) (param $n i32)
    (local $end i32) (local $x0 v128) (local $y v128) (local $k v128) (local $rhi v128) (local $lo v128) (local $r v128) (local $c v128)
    (local $r2 v128) (local $r4 v128) (local $q v128) (local $h v128) (local $k1 v128) (local $bb v128) (local $z v128)
    (local $s v128) (local $A v128) (local $B v128) (local $tt v128) (local $te v128) (local $uh v128) (local $ul v128) (local $e2 v128)
    (local $vh v128) (local $vl v128) (local $dh v128) (local $dl v128) (local $qt v128) (local $p v128) (local $t v128)
    (local $ah v128) (local $al v128) (local $bh v128) (local $bl v128) (local $pe v128) (local $eh v128) (local $el v128) (local $nh v128) (local $nl v128) (local $pos v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      ;; two lanes; the odd last element is loaded alone (upper lane 0) and stored alone
      (if (i32.ge_u (i32.sub (local.get $end) (local.get $x)) (i32.const 16))
        (then (local.set $x0 (v128.load (local.get $x))))
        (else (local.set $x0 (v128.load64_zero (local.get $x)))))
      ;; y = −|x| ≥ −746
      (local.set $y (f64x2.pmax (f64x2.neg (f64x2.abs (local.get $x0))) (v128.load64_splat offset=152 (i32.const 0))))
      ;; range reduction y = k·ln2 + r (+ c), e^r − 1 = r + h
      (local.set $k (f64x2.nearest (f64x2.mul (local.get $y) (v128.load64_splat offset=0 (i32.const 0)))))
      (local.set $rhi (f64x2.sub (local.get $y) (f64x2.mul (local.get $k) (v128.load64_splat offset=8 (i32.const 0)))))
      (local.set $lo (f64x2.mul (local.get $k) (v128.load64_splat offset=16 (i32.const 0))))
      (local.set $r (f64x2.sub (local.get $rhi) (local.get $lo)))
      (local.set $c (f64x2.sub (f64x2.sub (local.get $rhi) (local.get $r)) (local.get $lo)))
      (local.set $r2 (f64x2.mul (local.get $r) (local.get $r)))
      (local.set $r4 (f64x2.mul (local.get $r2) (local.get $r2)))
      ;; Q(r) by Estrin
      (local.set $q (f64x2.add (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=24 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=32 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=40 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=48 (i32.const 0)) (local.get $r))) (local.get $r2))) (f64x2.mul (f64x2.add (f64x2.add (v128.load64_splat offset=56 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=64 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=72 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=80 (i32.const 0)) (local.get $r))) (local.get $r2))) (local.get $r4))) (f64x2.mul (f64x2.add (f64x2.add (f64x2.add (v128.load64_splat offset=88 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=96 (i32.const 0)) (local.get $r))) (f64x2.mul (f64x2.add (v128.load64_splat offset=104 (i32.const 0)) (f64x2.mul (v128.load64_splat offset=112 (i32.const 0)) (local.get $r))) (local.get $r2))) (f64x2.mul (v128.load64_splat offset=120 (i32.const 0)) (local.get $r4))) (f64x2.mul (local.get $r4) (local.get $r4)))))
      (local.set $h (f64x2.add (f64x2.mul (local.get $r2) (local.get $q)) (f64x2.mul (local.get $c) (f64x2.add (local.get $r) (v128.load64_splat offset=128 (i32.const 0))))))
      ;; e = e^y = 2^k·(1 + (r + h)) as eh + el (fast_two_sums: |r| ≥ |h|, 1 ≥ |r + h|)
      (local.set $tt (f64x2.add (local.get $r) (local.get $h)))
      (local.set $te (f64x2.sub (local.get $h) (f64x2.sub (local.get $tt) (local.get $r))))
      (local.set $eh (f64x2.add (v128.load64_splat offset=128 (i32.const 0)) (local.get $tt)))
      (local.set $el (f64x2.add (f64x2.sub (local.get $tt) (f64x2.sub (local.get $eh) (v128.load64_splat offset=128 (i32.const 0)))) (local.get $te)))
      (local.set $k1 (f64x2.floor (f64x2.mul (local.get $k) (v128.load64_splat offset=24 (i32.const 0)))))
      (local.set $A (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (local.get $k1))) (v128.load64_splat offset=176 (i32.const 0))) (i32.const 52)))
      (local.set $B (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (f64x2.sub (local.get $k) (local.get $k1)))) (v128.load64_splat offset=176 (i32.const 0))) (i32.const 52)))
      (local.set $eh (f64x2.mul (f64x2.mul (local.get $eh) (local.get $A)) (local.get $B)))
      (local.set $el (f64x2.mul (f64x2.mul (local.get $el) (local.get $A)) (local.get $B)))
      ;; d = 1 + e (fast_two_sum: 1 ≥ e); n = 1 (x ≥ 0) or e (x < 0)
      (local.set $dh (f64x2.add (v128.load64_splat offset=128 (i32.const 0)) (local.get $eh)))
      (local.set $dl (f64x2.add (f64x2.sub (local.get $eh) (f64x2.sub (local.get $dh) (v128.load64_splat offset=128 (i32.const 0)))) (local.get $el)))
      (local.set $pos (f64x2.ge (local.get $x0) (v128.const i64x2 0 0)))
      (local.set $nh (v128.bitselect (v128.load64_splat offset=128 (i32.const 0)) (local.get $eh) (local.get $pos)))
      (local.set $nl (v128.andnot (local.get $el) (local.get $pos)))
      ;; div_dd: q = nh/dh, p + pe = q·dh exactly (Veltkamp/Dekker), one correction step
      (local.set $qt (f64x2.div (local.get $nh) (local.get $dh)))
      (local.set $p (f64x2.mul (local.get $qt) (local.get $dh)))
      (local.set $t (f64x2.mul (local.get $qt) (v128.load64_splat offset=144 (i32.const 0))))
      (local.set $ah (f64x2.sub (local.get $t) (f64x2.sub (local.get $t) (local.get $qt))))
      (local.set $al (f64x2.sub (local.get $qt) (local.get $ah)))
      (local.set $t (f64x2.mul (local.get $dh) (v128.load64_splat offset=144 (i32.const 0))))
      (local.set $bh (f64x2.sub (local.get $t) (f64x2.sub (local.get $t) (local.get $dh))))
      (local.set $bl (f64x2.sub (local.get $dh) (local.get $bh)))
      (local.set $pe (f64x2.add (f64x2.add (f64x2.add (f64x2.sub (f64x2.mul (local.get $ah) (local.get $bh)) (local.get $p)) (f64x2.mul (local.get $ah) (local.get $bl))) (f64x2.mul (local.get $al) (local.get $bh))) (f64x2.mul (local.get $al) (local.get $bl))))
      (local.set $z (f64x2.add (local.get $qt) (f64x2.div (f64x2.sub (f64x2.add (f64x2.sub (f64x2.sub (local.get $nh) (local.get $p)) (local.get $pe)) (local.get $nl)) (f64x2.mul (local.get $qt) (local.get $dl))) (local.get $dh))))
      (if (i32.ge_u (i32.sub (local.get $end) (local.get $x)) (i32.const 16))
        (then (v128.store (local.get $out) (local.get $z)))
        (else (v128.store64_lane 0 (local.get $out) (local.get $z))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l))))

  ;; out[i] = c·x[i] (one IEEE product per element; out may alias x): the scaling in front of a
  ;; vectorized exp or tanh (a sigmoid's tanh(x/2), a scaled pre-activation), run in place
  ;; before the kernel so that the product never leaves wasm memory.
  (func (export "scale") (param $x i32) (param $out i32) (param $n i32) (param $c f64)
    (local $end i32) (local $cv v128)
    (local.set $cv (f64x2.splat (local.get $c)))
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (v128.store (local.get $out) (f64x2.mul (local.get $cv) (v128.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l)))
    (if (i32.and (local.get $n) (i32.const 1))
      (then (f64.store (local.get $out) (f64.mul (local.get $c) (f64.load (local.get $x)))))))
  ;; -------------------------------------------------------------------------------------------
  ;; Elementwise binary ops on contiguous equal shapes: out[i] = a[i] ∘ b[i], two lanes at a
  ;; time plus an odd last element. out may alias a or b.
  (func (export "add") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store (local.get $out) (f64x2.add (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l)))
    (if (i32.and (local.get $n) (i32.const 1))
      (then (f64.store (local.get $out) (f64.add (f64.load (local.get $a)) (f64.load (local.get $b)))))))

  (func (export "sub") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store (local.get $out) (f64x2.sub (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l)))
    (if (i32.and (local.get $n) (i32.const 1))
      (then (f64.store (local.get $out) (f64.sub (f64.load (local.get $a)) (f64.load (local.get $b)))))))

  (func (export "mul") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store (local.get $out) (f64x2.mul (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l)))
    (if (i32.and (local.get $n) (i32.const 1))
      (then (f64.store (local.get $out) (f64.mul (f64.load (local.get $a)) (f64.load (local.get $b)))))))

  (func (export "div") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store (local.get $out) (f64x2.div (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l)))
    (if (i32.and (local.get $n) (i32.const 1))
      (then (f64.store (local.get $out) (f64.div (f64.load (local.get $a)) (f64.load (local.get $b)))))))
;; -------------------------------------------------------------------------------------------
  ;; Normal draws for src/io/rng.ts, the Marsaglia polar method whole. xoshiro256** (Blackman &
  ;; Vigna) with its state s0..s3 (four i64 at $st, updated in place); each output x gives the
  ;; double d = (x >> 11)·2^-53, the top 53 bits, exactly Rng.nextDouble's value. normal_pairs
  ;; draws u = 2·d − 1 and v = 2·d' − 1 until 0 < s = u·u + v·v < 1, then m = sqrt(−2·ln(s)/s),
  ;; and stores mean + std·(u·m), mean + std·(v·m), `pairs` times. These are the IEEE operations
  ;; of Rng.standardNormal in its order (WebAssembly never fuses a multiply-add), and ln is $log
  ;; below, the operations of logScalar (wasm/scalar.ts): the bits are the same.
  (func $next (param $st i32) (result f64)
    (local $s0 i64) (local $s1 i64) (local $s2 i64) (local $s3 i64) (local $r i64) (local $t i64)
    (local.set $s0 (i64.load offset=0 (local.get $st)))
    (local.set $s1 (i64.load offset=8 (local.get $st)))
    (local.set $s2 (i64.load offset=16 (local.get $st)))
    (local.set $s3 (i64.load offset=24 (local.get $st)))
    ;; result = rotl(s1·5, 7)·9;  t = s1 << 17
    (local.set $r (i64.mul (i64.rotl (i64.mul (local.get $s1) (i64.const 5)) (i64.const 7)) (i64.const 9)))
    (local.set $t (i64.shl (local.get $s1) (i64.const 17)))
    ;; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45)
    (local.set $s2 (i64.xor (local.get $s2) (local.get $s0)))
    (local.set $s3 (i64.xor (local.get $s3) (local.get $s1)))
    (local.set $s1 (i64.xor (local.get $s1) (local.get $s2)))
    (local.set $s0 (i64.xor (local.get $s0) (local.get $s3)))
    (local.set $s2 (i64.xor (local.get $s2) (local.get $t)))
    (local.set $s3 (i64.rotl (local.get $s3) (i64.const 45)))
    (i64.store offset=0 (local.get $st) (local.get $s0))
    (i64.store offset=8 (local.get $st) (local.get $s1))
    (i64.store offset=16 (local.get $st) (local.get $s2))
    (i64.store offset=24 (local.get $st) (local.get $s3))
    (f64.mul (f64.convert_i64_u (i64.shr_u (local.get $r) (i64.const 11))) (f64.const 0x1p-53)))

  ;; ln(x), fdlibm's algorithm (Sun Microsystems, e_log.c; V8's Math.log is the same code) step
  ;; for step, so the bits are Math.log's in V8 and logScalar's in every engine. x = 2^k·(1 + f)
  ;; with 1 + f in [√2/2, √2); s = f/(2 + f); ln(1 + f) = f − s·(f − R(s²)) with R a degree-14
  ;; polynomial (only even powers, Remez coefficients Lg1..Lg7), or f − (f²/2 − s·(f²/2 + R))
  ;; where that cancels less; k·ln2 in two parts (ln2_hi has 32 trailing zero bits).
  (func $log (param $x f64) (result f64)
    (local $bits i64) (local $hx i32) (local $lx i32) (local $k i32) (local $i i32) (local $j i32)
    (local $f f64) (local $s f64) (local $z f64) (local $w f64) (local $R f64) (local $dk f64) (local $hfsq f64)
    (local.set $bits (i64.reinterpret_f64 (local.get $x)))
    (local.set $hx (i32.wrap_i64 (i64.shr_u (local.get $bits) (i64.const 32))))
    (local.set $lx (i32.wrap_i64 (local.get $bits)))
    (if (i32.lt_s (local.get $hx) (i32.const 0x00100000))
      (then
        ;; ±0, negative, subnormal (scaled by 2^54)
        (if (i32.eqz (i32.or (i32.and (local.get $hx) (i32.const 0x7fffffff)) (local.get $lx)))
          (then (return (f64.const -inf))))
        (if (i32.lt_s (local.get $hx) (i32.const 0)) (then (return (f64.const nan))))
        (local.set $k (i32.const -54))
        (local.set $x (f64.mul (local.get $x) (f64.const 0x1p54)))
        (local.set $bits (i64.reinterpret_f64 (local.get $x)))
        (local.set $hx (i32.wrap_i64 (i64.shr_u (local.get $bits) (i64.const 32))))))
    (if (i32.ge_s (local.get $hx) (i32.const 0x7ff00000)) (then (return (f64.add (local.get $x) (local.get $x)))))
    (local.set $k (i32.add (local.get $k) (i32.sub (i32.shr_s (local.get $hx) (i32.const 20)) (i32.const 1023))))
    (local.set $hx (i32.and (local.get $hx) (i32.const 0x000fffff)))
    (local.set $i (i32.and (i32.add (local.get $hx) (i32.const 0x95f64)) (i32.const 0x100000)))
    ;; 1 + f: x's mantissa with the exponent of 1 (or of 1/2, above √2)
    (local.set $x (f64.reinterpret_i64 (i64.or
      (i64.shl (i64.extend_i32_u (i32.or (local.get $hx) (i32.xor (local.get $i) (i32.const 0x3ff00000)))) (i64.const 32))
      (i64.and (local.get $bits) (i64.const 0xffffffff)))))
    (local.set $k (i32.add (local.get $k) (i32.shr_s (local.get $i) (i32.const 20))))
    (local.set $f (f64.sub (local.get $x) (f64.const 1)))
    (local.set $dk (f64.convert_i32_s (local.get $k)))
    (if (i32.lt_s (i32.and (i32.const 0x000fffff) (i32.add (i32.const 2) (local.get $hx))) (i32.const 3))
      (then
        ;; |f| < 2^-20
        (if (f64.eq (local.get $f) (f64.const 0))
          (then
            (if (i32.eqz (local.get $k)) (then (return (f64.const 0))))
            (return (f64.add (f64.mul (local.get $dk) (f64.const 0x1.62e42fee00000p-1)) (f64.mul (local.get $dk) (f64.const 0x1.a39ef35793c76p-33))))))
        (local.set $R (f64.mul (f64.mul (local.get $f) (local.get $f)) (f64.sub (f64.const 0.5) (f64.mul (f64.const 0x1.5555555555555p-2) (local.get $f)))))
        (if (i32.eqz (local.get $k)) (then (return (f64.sub (local.get $f) (local.get $R)))))
        (return (f64.sub (f64.mul (local.get $dk) (f64.const 0x1.62e42fee00000p-1))
          (f64.sub (f64.sub (local.get $R) (f64.mul (local.get $dk) (f64.const 0x1.a39ef35793c76p-33))) (local.get $f))))))
    (local.set $s (f64.div (local.get $f) (f64.add (f64.const 2) (local.get $f))))
    (local.set $z (f64.mul (local.get $s) (local.get $s)))
    (local.set $i (i32.sub (local.get $hx) (i32.const 0x6147a)))
    (local.set $w (f64.mul (local.get $z) (local.get $z)))
    (local.set $j (i32.sub (i32.const 0x6b851) (local.get $hx)))
    ;; R = t2 + t1: t1 = w·(Lg2 + w·(Lg4 + w·Lg6)), t2 = z·(Lg1 + w·(Lg3 + w·(Lg5 + w·Lg7)))
    (local.set $R (f64.add
      (f64.mul (local.get $z) (f64.add (f64.const 0x1.5555555555593p-1) (f64.mul (local.get $w) (f64.add (f64.const 0x1.2492494229359p-2) (f64.mul (local.get $w) (f64.add (f64.const 0x1.7466496cb03dep-3) (f64.mul (local.get $w) (f64.const 0x1.2f112df3e5244p-3))))))))
      (f64.mul (local.get $w) (f64.add (f64.const 0x1.999999997fa04p-2) (f64.mul (local.get $w) (f64.add (f64.const 0x1.c71c51d8e78afp-3) (f64.mul (local.get $w) (f64.const 0x1.39a09d078c69fp-3))))))))
    (if (i32.gt_s (i32.or (local.get $i) (local.get $j)) (i32.const 0))
      (then
        (local.set $hfsq (f64.mul (f64.mul (f64.const 0.5) (local.get $f)) (local.get $f)))
        (if (i32.eqz (local.get $k))
          (then (return (f64.sub (local.get $f) (f64.sub (local.get $hfsq) (f64.mul (local.get $s) (f64.add (local.get $hfsq) (local.get $R))))))))
        (return (f64.sub (f64.mul (local.get $dk) (f64.const 0x1.62e42fee00000p-1))
          (f64.sub (f64.sub (local.get $hfsq) (f64.add (f64.mul (local.get $s) (f64.add (local.get $hfsq) (local.get $R))) (f64.mul (local.get $dk) (f64.const 0x1.a39ef35793c76p-33)))) (local.get $f))))))
    (if (i32.eqz (local.get $k))
      (then (return (f64.sub (local.get $f) (f64.mul (local.get $s) (f64.sub (local.get $f) (local.get $R)))))))
    (f64.sub (f64.mul (local.get $dk) (f64.const 0x1.62e42fee00000p-1))
      (f64.sub (f64.sub (f64.mul (local.get $s) (f64.sub (local.get $f) (local.get $R))) (f64.mul (local.get $dk) (f64.const 0x1.a39ef35793c76p-33))) (local.get $f))))

  (func (export "log") (param $x i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (f64.store (local.get $out) (call $log (f64.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 8)))
      (local.set $out (i32.add (local.get $out) (i32.const 8)))
      (br $l))))

  (func (export "normal_pairs") (param $st i32) (param $out i32) (param $pairs i32) (param $mean f64) (param $std f64)
    (local $u f64) (local $v f64) (local $s f64) (local $m f64) (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $pairs) (i32.const 4))))
    (block $done (loop $pair
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (loop $draw
        (local.set $u (f64.sub (f64.mul (f64.const 2) (call $next (local.get $st))) (f64.const 1)))
        (local.set $v (f64.sub (f64.mul (f64.const 2) (call $next (local.get $st))) (f64.const 1)))
        (local.set $s (f64.add (f64.mul (local.get $u) (local.get $u)) (f64.mul (local.get $v) (local.get $v))))
        (br_if $draw (i32.or (f64.ge (local.get $s) (f64.const 1)) (f64.eq (local.get $s) (f64.const 0)))))
      (local.set $m (f64.sqrt (f64.div (f64.mul (f64.const -2) (call $log (local.get $s))) (local.get $s))))
      (f64.store offset=0 (local.get $out) (f64.add (local.get $mean) (f64.mul (local.get $std) (f64.mul (local.get $u) (local.get $m)))))
      (f64.store offset=8 (local.get $out) (f64.add (local.get $mean) (f64.mul (local.get $std) (f64.mul (local.get $v) (local.get $m)))))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $pair))))
)
