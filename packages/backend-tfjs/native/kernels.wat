;; Fused step kernels of @rewind/backend-tfjs in WebAssembly SIMD, run on the wasm backend's own memory
;; (imported: every pointer is a byte offset of a tensor there). Generated into src/native-module.ts by
;; `pnpm native` (scripts/native.ts); the memory import line below is replaced per variant (shared for the
;; threaded build, plain otherwise).
;;
;; Layouts as in src/fused.ts: row-major, LSTM gate blocks i, f, g, o of H columns, saved i, f, g, o, tanh(c);
;; GRU gate blocks z, r, n, saved z, r, n, U_n h + bu_n.
;; tanh(a) is computed as 2 sigmoid(2a) - 1, as the JavaScript kernels do. H (and G for scatter_rows) must
;; be a multiple of 4; the caller runs the JavaScript kernels otherwise.
(module
  ;; MEMORY
  (import "env" "memory" (memory 1 65536 shared))

  ;; LSTM forward step. xs: [*, 4H] table of input projections, row rows[r] for batch row r (int32 [B]);
  ;; hu: [B, 4H]; cprev: [B, H]. Writes h, c ([B, H]) and, when keep is non-zero, saved ([B, 5H]).
  (func (export "lstm_forward")
    (param $xs i32) (param $rows i32) (param $hu i32) (param $cprev i32)
    (param $h i32) (param $c i32) (param $saved i32) (param $B i32) (param $H i32) (param $keep i32)
    (local $r i32) (local $j i32) (local $hb i32) (local $x i32) (local $u i32) (local $p i32)
    (local $s i32) (local $q i32)
    (local $i v128) (local $f v128) (local $g v128) (local $o v128) (local $cn v128) (local $tc v128)
    (local $ex v128) (local $ey v128) (local $ez v128) (local $ej v128)
    (local.set $hb (i32.shl (local.get $H) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $B)))
        ;; x: this row of the table; u: this row of hu; p: offset of the row in [B, H]; s: in saved.
        (local.set $x
          (i32.add (local.get $xs)
            (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $r) (i32.const 2))))
                     (i32.shl (local.get $hb) (i32.const 2)))))
        (local.set $u (i32.add (local.get $hu) (i32.mul (local.get $r) (i32.shl (local.get $hb) (i32.const 2)))))
        (local.set $p (i32.mul (local.get $r) (local.get $hb)))
        (local.set $s (i32.add (local.get $saved) (i32.mul (local.get $r) (i32.mul (local.get $hb) (i32.const 5)))))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $hb)))
            (local.set $q (i32.add (local.get $x) (local.get $j)))
            (local.set $i (f32x4.add (v128.load (local.get $q)) (v128.load (i32.add (local.get $u) (local.get $j)))))
            ;; @sigmoid $i
            (local.set $q (i32.add (local.get $q) (local.get $hb)))
            (local.set $f
              (f32x4.add (v128.load (local.get $q))
                         (v128.load (i32.add (i32.add (local.get $u) (local.get $hb)) (local.get $j)))))
            ;; @sigmoid $f
            (local.set $q (i32.add (local.get $q) (local.get $hb)))
            (local.set $g
              (f32x4.add (v128.load (local.get $q))
                         (v128.load (i32.add (i32.add (local.get $u) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))))
            ;; @tanh $g
            (local.set $q (i32.add (local.get $q) (local.get $hb)))
            (local.set $o
              (f32x4.add (v128.load (local.get $q))
                         (v128.load (i32.add (i32.add (local.get $u) (i32.mul (local.get $hb) (i32.const 3))) (local.get $j)))))
            ;; @sigmoid $o
            (local.set $cn
              (f32x4.add
                (f32x4.mul (local.get $f) (v128.load (i32.add (local.get $cprev) (i32.add (local.get $p) (local.get $j)))))
                (f32x4.mul (local.get $i) (local.get $g))))
            (local.set $tc (local.get $cn))
            ;; @tanh $tc
            (v128.store (i32.add (local.get $c) (i32.add (local.get $p) (local.get $j))) (local.get $cn))
            (v128.store (i32.add (local.get $h) (i32.add (local.get $p) (local.get $j)))
              (f32x4.mul (local.get $o) (local.get $tc)))
            (if (local.get $keep)
              (then
                (local.set $q (i32.add (local.get $s) (local.get $j)))
                (v128.store (local.get $q) (local.get $i))
                (local.set $q (i32.add (local.get $q) (local.get $hb)))
                (v128.store (local.get $q) (local.get $f))
                (local.set $q (i32.add (local.get $q) (local.get $hb)))
                (v128.store (local.get $q) (local.get $g))
                (local.set $q (i32.add (local.get $q) (local.get $hb)))
                (v128.store (local.get $q) (local.get $o))
                (local.set $q (i32.add (local.get $q) (local.get $hb)))
                (v128.store (local.get $q) (local.get $tc))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; LSTM backward step: da ([B, 4H]) and dcprev ([B, H]) from dh (+ dh2 when non-zero), dc (when
  ;; non-zero), saved ([B, 5H]) and cprev.
  (func (export "lstm_backward")
    (param $dh i32) (param $dh2 i32) (param $dc i32) (param $saved i32) (param $cprev i32)
    (param $da i32) (param $dcprev i32) (param $B i32) (param $H i32)
    (local $k i32) (local $n i32) (local $hb i32) (local $r i32) (local $j i32) (local $s i32) (local $a i32)
    (local $d v128) (local $i v128) (local $f v128) (local $g v128) (local $o v128) (local $tc v128)
    (local $dct v128) (local $one v128)
    (local.set $hb (i32.shl (local.get $H) (i32.const 2)))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $B)))
        (local.set $s (i32.add (local.get $saved) (i32.mul (local.get $r) (i32.mul (local.get $hb) (i32.const 5)))))
        (local.set $a (i32.add (local.get $da) (i32.mul (local.get $r) (i32.shl (local.get $hb) (i32.const 2)))))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $hb)))
            ;; k: offset in [B, H]
            (local.set $k (i32.add (i32.mul (local.get $r) (local.get $hb)) (local.get $j)))
            (local.set $d (v128.load (i32.add (local.get $dh) (local.get $k))))
            (if (local.get $dh2)
              (then (local.set $d (f32x4.add (local.get $d) (v128.load (i32.add (local.get $dh2) (local.get $k)))))))
            (local.set $n (i32.add (local.get $s) (local.get $j)))
            (local.set $i (v128.load (local.get $n)))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            (local.set $f (v128.load (local.get $n)))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            (local.set $g (v128.load (local.get $n)))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            (local.set $o (v128.load (local.get $n)))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            (local.set $tc (v128.load (local.get $n)))
            ;; dct = d o (1 - tc^2) (+ dc)
            (local.set $dct
              (f32x4.mul (f32x4.mul (local.get $d) (local.get $o))
                         (f32x4.sub (local.get $one) (f32x4.mul (local.get $tc) (local.get $tc)))))
            (if (local.get $dc)
              (then (local.set $dct (f32x4.add (local.get $dct) (v128.load (i32.add (local.get $dc) (local.get $k)))))))
            (local.set $n (i32.add (local.get $a) (local.get $j)))
            ;; da_i = dct g i (1 - i)
            (v128.store (local.get $n)
              (f32x4.mul (f32x4.mul (f32x4.mul (local.get $dct) (local.get $g)) (local.get $i))
                         (f32x4.sub (local.get $one) (local.get $i))))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            ;; da_f = dct cprev f (1 - f)
            (v128.store (local.get $n)
              (f32x4.mul
                (f32x4.mul (f32x4.mul (local.get $dct) (v128.load (i32.add (local.get $cprev) (local.get $k)))) (local.get $f))
                (f32x4.sub (local.get $one) (local.get $f))))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            ;; da_g = dct i (1 - g^2)
            (v128.store (local.get $n)
              (f32x4.mul (f32x4.mul (local.get $dct) (local.get $i))
                         (f32x4.sub (local.get $one) (f32x4.mul (local.get $g) (local.get $g)))))
            (local.set $n (i32.add (local.get $n) (local.get $hb)))
            ;; da_o = d tc o (1 - o)
            (v128.store (local.get $n)
              (f32x4.mul (f32x4.mul (f32x4.mul (local.get $d) (local.get $tc)) (local.get $o))
                         (f32x4.sub (local.get $one) (local.get $o))))
            ;; dcprev = dct f
            (v128.store (i32.add (local.get $dcprev) (local.get $k)) (f32x4.mul (local.get $dct) (local.get $f)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; GRU forward step. xs: [*, 3H] table of input projections, row rows[r] for batch row r (int32 [B]);
  ;; hu: [B, 3H] (h U^T); bu: [3H]; hprev: [B, H]. Writes h ([B, H]) and saved ([B, 4H]: z, r, n, U_n h + bu_n).
  (func (export "gru_forward")
    (param $xs i32) (param $rows i32) (param $hu i32) (param $bu i32) (param $hprev i32)
    (param $h i32) (param $saved i32) (param $B i32) (param $H i32)
    (local $r i32) (local $j i32) (local $hb i32) (local $x i32) (local $u i32) (local $p i32) (local $s i32)
    (local $z v128) (local $rr v128) (local $n v128) (local $hn v128) (local $hp v128)
    (local $ex v128) (local $ey v128) (local $ez v128) (local $ej v128)
    (local.set $hb (i32.shl (local.get $H) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $B)))
        (local.set $x
          (i32.add (local.get $xs)
            (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $r) (i32.const 2))))
                     (i32.mul (local.get $hb) (i32.const 3)))))
        (local.set $u (i32.add (local.get $hu) (i32.mul (local.get $r) (i32.mul (local.get $hb) (i32.const 3)))))
        (local.set $p (i32.mul (local.get $r) (local.get $hb)))
        (local.set $s (i32.add (local.get $saved) (i32.mul (local.get $r) (i32.shl (local.get $hb) (i32.const 2)))))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $hb)))
            (local.set $z
              (f32x4.add
                (f32x4.add (v128.load (i32.add (local.get $x) (local.get $j)))
                           (v128.load (i32.add (local.get $u) (local.get $j))))
                (v128.load (i32.add (local.get $bu) (local.get $j)))))
            ;; @sigmoid $z
            (local.set $rr
              (f32x4.add
                (f32x4.add (v128.load (i32.add (i32.add (local.get $x) (local.get $hb)) (local.get $j)))
                           (v128.load (i32.add (i32.add (local.get $u) (local.get $hb)) (local.get $j))))
                (v128.load (i32.add (i32.add (local.get $bu) (local.get $hb)) (local.get $j)))))
            ;; @sigmoid $rr
            (local.set $hn
              (f32x4.add
                (v128.load (i32.add (i32.add (local.get $u) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))
                (v128.load (i32.add (i32.add (local.get $bu) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))))
            (local.set $n
              (f32x4.add
                (v128.load (i32.add (i32.add (local.get $x) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))
                (f32x4.mul (local.get $rr) (local.get $hn))))
            ;; @tanh $n
            (local.set $hp (v128.load (i32.add (local.get $hprev) (i32.add (local.get $p) (local.get $j)))))
            (v128.store (i32.add (local.get $h) (i32.add (local.get $p) (local.get $j)))
              (f32x4.add (local.get $n) (f32x4.mul (local.get $z) (f32x4.sub (local.get $hp) (local.get $n)))))
            (v128.store (i32.add (local.get $s) (local.get $j)) (local.get $z))
            (v128.store (i32.add (i32.add (local.get $s) (local.get $hb)) (local.get $j)) (local.get $rr))
            (v128.store (i32.add (i32.add (local.get $s) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j))
              (local.get $n))
            (v128.store (i32.add (i32.add (local.get $s) (i32.mul (local.get $hb) (i32.const 3))) (local.get $j))
              (local.get $hn))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; GRU backward step: dax, dah ([B, 3H]) and dhz ([B, H], the direct part of dh_prev) from dh (+ dh2
  ;; when non-zero), saved ([B, 4H]) and hprev.
  (func (export "gru_backward")
    (param $dh i32) (param $dh2 i32) (param $saved i32) (param $hprev i32)
    (param $dax i32) (param $dah i32) (param $dhz i32) (param $B i32) (param $H i32)
    (local $r i32) (local $j i32) (local $hb i32) (local $k i32) (local $s i32) (local $a i32)
    (local $d v128) (local $z v128) (local $rr v128) (local $n v128) (local $hn v128)
    (local $dan v128) (local $daz v128) (local $dar v128) (local $one v128)
    (local.set $hb (i32.shl (local.get $H) (i32.const 2)))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $B)))
        (local.set $s (i32.add (local.get $saved) (i32.mul (local.get $r) (i32.shl (local.get $hb) (i32.const 2)))))
        (local.set $a (i32.mul (local.get $r) (i32.mul (local.get $hb) (i32.const 3))))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $hb)))
            (local.set $k (i32.add (i32.mul (local.get $r) (local.get $hb)) (local.get $j)))
            (local.set $d (v128.load (i32.add (local.get $dh) (local.get $k))))
            (if (local.get $dh2)
              (then (local.set $d (f32x4.add (local.get $d) (v128.load (i32.add (local.get $dh2) (local.get $k)))))))
            (local.set $z (v128.load (i32.add (local.get $s) (local.get $j))))
            (local.set $rr (v128.load (i32.add (i32.add (local.get $s) (local.get $hb)) (local.get $j))))
            (local.set $n (v128.load (i32.add (i32.add (local.get $s) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j))))
            (local.set $hn (v128.load (i32.add (i32.add (local.get $s) (i32.mul (local.get $hb) (i32.const 3))) (local.get $j))))
            ;; dan = d (1 - z) (1 - n^2)
            (local.set $dan
              (f32x4.mul (f32x4.mul (local.get $d) (f32x4.sub (local.get $one) (local.get $z)))
                         (f32x4.sub (local.get $one) (f32x4.mul (local.get $n) (local.get $n)))))
            ;; daz = d (hprev - n) z (1 - z)
            (local.set $daz
              (f32x4.mul
                (f32x4.mul
                  (f32x4.mul (local.get $d)
                             (f32x4.sub (v128.load (i32.add (local.get $hprev) (local.get $k))) (local.get $n)))
                  (local.get $z))
                (f32x4.sub (local.get $one) (local.get $z))))
            ;; dar = dan hn r (1 - r)
            (local.set $dar
              (f32x4.mul (f32x4.mul (f32x4.mul (local.get $dan) (local.get $hn)) (local.get $rr))
                         (f32x4.sub (local.get $one) (local.get $rr))))
            (v128.store (i32.add (local.get $dax) (i32.add (local.get $a) (local.get $j))) (local.get $daz))
            (v128.store (i32.add (local.get $dax) (i32.add (i32.add (local.get $a) (local.get $hb)) (local.get $j)))
              (local.get $dar))
            (v128.store
              (i32.add (local.get $dax) (i32.add (i32.add (local.get $a) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))
              (local.get $dan))
            (v128.store (i32.add (local.get $dah) (i32.add (local.get $a) (local.get $j))) (local.get $daz))
            (v128.store (i32.add (local.get $dah) (i32.add (i32.add (local.get $a) (local.get $hb)) (local.get $j)))
              (local.get $dar))
            (v128.store
              (i32.add (local.get $dah) (i32.add (i32.add (local.get $a) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))
              (f32x4.mul (local.get $dan) (local.get $rr)))
            (v128.store (i32.add (local.get $dhz) (local.get $k)) (f32x4.mul (local.get $d) (local.get $z)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; out[ids[r]] += d[r] for the N rows of d ([N, G]); out is zeroed by the caller. G must be a multiple of 4.
  (func (export "scatter_rows")
    (param $d i32) (param $ids i32) (param $out i32) (param $N i32) (param $G i32)
    (local $r i32) (local $k i32) (local $gb i32) (local $o i32) (local $src i32)
    (local.set $gb (i32.shl (local.get $G) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $N)))
        (local.set $o
          (i32.add (local.get $out)
            (i32.mul (i32.load (i32.add (local.get $ids) (i32.shl (local.get $r) (i32.const 2)))) (local.get $gb))))
        (local.set $src (i32.add (local.get $d) (i32.mul (local.get $r) (local.get $gb))))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $k) (local.get $gb)))
            (v128.store (i32.add (local.get $o) (local.get $k))
              (f32x4.add (v128.load (i32.add (local.get $o) (local.get $k)))
                         (v128.load (i32.add (local.get $src) (local.get $k)))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))
)
