"""Fits the polynomial coefficients of src/kernels/math/ (a developer tool, not run by CI).

Near-minimax fits by Lawson's iteratively reweighted least squares on a
dense grid, in f64 with mpmath for the target functions; coefficients are
then rounded to f32. The emitted kernels are checked against correctly
rounded references by `deno task ulp`, which is the real judge.
Usage: python3 tools/fit_math.py
"""
import numpy as np
import mpmath as mp

mp.mp.dps = 40


def lawson(xs, basis, target, weight, iters=200):
    """Minimax of weight*(sum c_i basis_i - target) over xs."""
    A = np.array([basis(x) for x in xs])
    t = np.array(target)
    w = np.array(weight)
    lw = np.ones(len(xs)) / len(xs)
    for _ in range(iters):
        sw = np.sqrt(lw) * w
        c, *_ = np.linalg.lstsq(A * sw[:, None], t * sw, rcond=None)
        err = np.abs((A @ c - t) * w)
        lw = lw * err
        lw /= lw.sum()
    return c, np.max(np.abs((A @ c - t) * w))


def f32(c):
    return [float(np.float32(v)) for v in c]


def show(name, c, err):
    print(f"{name}: max weighted err {err:.3e}")
    print("  [" + ", ".join(repr(np.float32(v).item()) for v in c) + "]")


def exp_fit(deg, half_width=float(mp.log(2) / 2)):
    # exp(r) = 1 + r + r^2 q(r), q of degree deg-2, r in [-half_width, half_width]
    xs = np.cos(np.linspace(0, np.pi, 4000)) * half_width
    xs = xs[np.abs(xs) > 1e-7]
    tgt = [float((mp.exp(x) - 1 - x) / x**2) for x in xs]
    wt = [float(x**2 / mp.exp(x)) for x in xs]  # relative error of exp
    c, e = lawson(xs, lambda x: [x**i for i in range(deg - 1)], tgt, wt)
    show(f"exp q deg {deg} on ±{half_width:.4g}", c, e)


def log_fit(deg):
    # log(1+f) = f - f^2/2 + f^3 P(f), f in [sqrt(.5)-1, sqrt(2)-1]
    lo, hi = float(mp.sqrt(0.5) - 1), float(mp.sqrt(2) - 1)
    xs = (np.cos(np.linspace(0, np.pi, 4000)) + 1) / 2 * (hi - lo) + lo
    xs = xs[np.abs(xs) > 1e-5]
    tgt = [float((mp.log1p(x) - x + x**2 / 2) / x**3) for x in xs]
    wt = [float(abs(x**3 / mp.log1p(x))) for x in xs]
    c, e = lawson(xs, lambda x: [x**i for i in range(deg - 2)], tgt, wt)
    show(f"log P deg {deg}", c, e)


def erf_small(hi, deg):
    # erf(x) = x P(x^2) on [0, hi]; relative error
    xs = (np.cos(np.linspace(0, np.pi, 4000)) + 1) / 2 * hi
    xs = xs[xs > 1e-4]
    tgt = [float(mp.erf(x) / x) for x in xs]
    wt = [float(x / mp.erf(x)) for x in xs]
    c, e = lawson(xs, lambda x: [x ** (2 * i) for i in range(deg // 2 + 1)], tgt, wt)
    show(f"erf small deg {deg} on [0,{hi}]", c, e)


def erfc_q_t(lo, hi, deg):
    # erfc(x) = exp(-x^2) Q(t), t = 1/(1 + x/2): erf's tail from 0.5, GELU's whole line from 0
    xs = (np.cos(np.linspace(0, np.pi, 4000)) + 1) / 2 * (hi - lo) + lo
    tgt = [float(mp.erfc(x) * mp.exp(x * x)) for x in xs]
    wt = [1 / v for v in tgt]
    c, e = lawson(xs, lambda x: [(1 / (1 + 0.5 * x)) ** i for i in range(deg + 1)], tgt, wt)
    show(f"erfc Q(1/(1+x/2)) deg {deg} on [{lo},{hi}]", c, e)


def log1p_fit(deg):
    # log1p(u) = u·P(u) on [0, 1] (softplus's ln(1 + e^-|x|)); relative error
    xs = (np.cos(np.linspace(0, np.pi, 4000)) + 1) / 2
    xs = xs[xs > 1e-7]
    tgt = [float(mp.log1p(x) / x) for x in xs]
    wt = [float(x / mp.log1p(x)) for x in xs]
    c, e = lawson(xs, lambda x: [x ** i for i in range(deg)], tgt, wt)
    show(f"log1p u·P(u) deg {deg} on [0,1]", c, e)


def gelu_tolerance(a, tail=None):
    """What GELU's bound allows at x = −a: 8 ulp of |x|·Φ(−a) (or of |x|·tail, the
    tail's value at a given), or 1e-7 absolute."""
    y = a * float(mp.ncdf(-a) if tail is None else tail)
    return max(1e-7, 8 * 2.0 ** (np.floor(np.log2(y)) - 23)) if y > 0 else 1e-7


def phi_pieces(n=16, amax=5.6, deg=7, output=False, tail=lambda a: mp.ncdf(-a), name="phi"):
    """Φ(−a) on [0, amax) in n pieces, degree deg in t = a − c_i (c_i the f32 centre):
    GELU's AVX2 form (tables read by vpermps). Prints the f32 tables. The error
    minimized is relative to Φ(−a), or (output=True) a·error as a fraction of GELU's
    tolerance at x = −a (the positive side's is larger). With `tail` another such
    function (gelu_tanh_tail), the same for its GELU."""
    h32 = float(np.float32(amax / n))
    centres, coeffs, worst = [], [], 0
    for i in range(n):
        lo, hi = i * h32, (i + 1) * h32
        c0 = float(np.float32(i * h32 + h32 / 2))
        xs = np.cos(np.linspace(0, np.pi, 400)) * (hi - lo) / 2 + (lo + hi) / 2
        xs = xs[xs > 1e-6]
        t = xs - c0
        tgt = np.array([float(tail(x)) for x in xs])
        wt = np.array([x / gelu_tolerance(x, y) for x, y in zip(xs, tgt)]) if output else 1 / np.abs(tgt)
        c, _ = lawson(t, lambda u: [u ** k for k in range(deg + 1)], tgt, wt)
        c = f32(c)
        A = np.array([[u ** k for k in range(deg + 1)] for u in t])
        centres.append(c0)
        coeffs.append(c)
        worst = max(worst, np.max(np.abs((A @ np.array(c) - tgt) * wt)))
    what = "of the tolerance" if output else "rel err"
    print(f"{name} pieces n={n} deg={deg} h={h32!r}: max error {worst:.3e} {what} (f32 coefficients)")
    print("centres", [np.float32(c).item() for c in centres])
    for k in range(deg + 1):
        print(f"c{k}", [np.float32(coeffs[i][k]).item() for i in range(n)])


def gelu_tanh_tail(a):
    """GELU-tanh's tail σ(−2u(a)) = ½(1 − tanh u(a)), u(a) = √(2/π)(a + 0.044715a³):
    GELU-tanh(x) = x·(1 − tail(x)) for x ≥ 0 and x·tail(−x) for x < 0."""
    u = mp.sqrt(2 / mp.pi) * (a + mp.mpf("0.044715") * a ** 3)
    return 1 / (1 + mp.exp(2 * u))


def phi_rounded_pieces(n=16, step=0.375, deg=5, tail=lambda a: mp.ncdf(-a), name="phi"):
    """Φ(−a) in n pieces centred on k·step (k = round(a/step), k < n; the first
    piece is [0, step/2]), degree deg in t = a − k·step: GELU's AVX-512 form,
    where k comes from one add of 1.5·2^23·step (its low bits index the
    tables; step a power of two) and t = a − k·step is exact. Errors as a
    fraction of GELU's tolerance at x = −a, as phi_pieces(output=True). With
    `tail` another such function (gelu_tanh_tail), the same for its GELU."""
    coeffs, worst = [], 0
    for i in range(n):
        lo, hi = max(0.0, (i - 0.5) * step), (i + 0.5) * step
        xs = np.cos(np.linspace(0, np.pi, 400)) * (hi - lo) / 2 + (lo + hi) / 2
        xs = xs[xs > 1e-6]
        t = xs - i * step
        tgt = np.array([float(tail(x)) for x in xs])
        wt = np.array([x / gelu_tolerance(x, tgt_x) for x, tgt_x in zip(xs, tgt)])
        c, _ = lawson(t, lambda u: [u ** k for k in range(deg + 1)], tgt, wt)
        c = f32(c)
        A = np.array([[u ** k for k in range(deg + 1)] for u in t])
        coeffs.append(c)
        worst = max(worst, np.max(np.abs((A @ np.array(c) - tgt) * wt)))
    print(f"{name} rounded pieces n={n} deg={deg} step={step}: max {worst:.3e} of the tolerance")
    for k in range(deg + 1):
        print(f"c{k}", [np.float32(coeffs[i][k]).item() for i in range(n)])


def odd_rounded_pieces(n=16, step=0.625, deg=7, margin=1e-4, fn=mp.tanh, name="tanh", odd=True, last=1.0):
    """fn(a) (an odd function, tanh by default; erf) on [0, (n − 1.5)·step] in n − 1 pieces centred on k·step (k =
    round(a/step), the first piece [0, step/2] with no constant term, so
    tiny a keep their relative accuracy), degree deg in t = a − k·step,
    and a last piece of the constant 1 (1 − tanh(a) below half an ulp of
    1 from there): tanh.ts's AVX-512 form, indexed as GELU's. Fitted for
    the error in ulps of tanh a (margin: the k of a piece's edges may
    round either way); then the f32 Horner evaluation is simulated on a
    dense grid and its worst error printed, in ulps."""
    coeffs, worst = [], 0
    for i in range(n - 1):
        lo, hi = max(0.0, (i - 0.5) * step - margin), (i + 0.5) * step + margin
        xs = np.cos(np.linspace(0, np.pi, 500)) * (hi - lo) / 2 + (lo + hi) / 2
        xs = xs[xs > 1e-6]
        t = xs - i * step
        tgt = np.array([float(fn(x)) for x in xs])
        wt = 1 / np.array([2.0 ** (np.floor(np.log2(v)) - 23) for v in tgt])
        first = 1 if i == 0 and odd else 0
        c, _ = lawson_floor(t, lambda u: [u ** k for k in range(first, deg + 1)], tgt, wt)
        c = [0.0] * first + f32(c)
        A = np.array([[u ** k for k in range(deg + 1)] for u in t])
        coeffs.append(c)
        worst = max(worst, np.max(np.abs((A @ np.array(c) - tgt) * wt)))
    coeffs.append([last] + [0.0] * deg)
    # The kernel's arithmetic: k and t as the FMAs form them, Horner in f32 with fused steps.
    a = np.linspace(0, (n - 1) * step, 400001, dtype=np.float32)[1:]
    a = np.concatenate([a, np.float32(2.0) ** -np.arange(1, 120, dtype=np.float32)])
    k = np.rint(a.astype(np.float64) * np.float64(np.float32(1 / step))).astype(int)
    k = np.minimum(k, n - 1)
    tt = (a.astype(np.float64) - k * step).astype(np.float32)
    C = np.array(coeffs, dtype=np.float64)
    y = C[k, deg].astype(np.float32)
    for j in range(deg - 1, -1, -1):
        y = (y.astype(np.float64) * tt + C[k, j]).astype(np.float32)
    pick = np.concatenate([np.arange(0, 400000, 50), np.arange(400000, len(a))])
    ref = np.array([float(fn(float(v))) for v in a[pick]])
    got = y[pick].astype(np.float64)
    ulp = 2.0 ** (np.floor(np.log2(np.abs(ref))) - 23)
    sim = np.max(np.abs(got - ref) / ulp)
    print(f"{name} rounded pieces n={n} deg={deg} step={step}: fit {worst:.2f} ulp, f32 Horner {sim:.2f} ulp (sampled)")
    for j in range(deg + 1):
        print(f"c{j}", [np.float32(coeffs[i][j]).item() for i in range(n)])


def lawson_floor(xs, basis, target, weight, iters=150):
    """lawson() whose reweighting keeps a floor (weights that reach 0 make the fit singular)."""
    A = np.array([basis(x) for x in xs])
    t, w = np.array(target), np.array(weight)
    lw, best = np.ones(len(xs)) / len(xs), None
    for _ in range(iters):
        sw = np.sqrt(lw) * w
        c, *_ = np.linalg.lstsq(A * sw[:, None], t * sw, rcond=None)
        err = np.abs((A @ c - t) * w)
        if best is None or err.max() < best[1]:
            best = (c, err.max())
        lw = lw * (err + 1e-3 * err.max())
        lw /= lw.sum()
    return best


if __name__ == "__main__":
    # The fits whose coefficients the kernels carry (src/kernels/math/):
    exp_fit(6)  # exp.ts EXP_POLY
    exp_fit(3, float(mp.log(2) / 32))  # exp.ts EXP_SHORT (AVX-512's table form)
    log_fit(9)  # log.ts LOG_POLY
    log1p_fit(10)  # log.ts LOG1P_UNIT
    erf_small(1.0, 12)  # erf.ts ERF_SMALL
    erfc_q_t(0.5, 4.0, 9)  # erf.ts ERFC_Q
    erfc_q_t(0.0, 4.0, 9)  # activations.ts HALF_ERFC_Q (halved there)
    phi_rounded_pieces(13, 0.5, 5)  # phi_table.ts PHI_* (AVX-512)
    phi_rounded_pieces(13, 0.5, 5, gelu_tanh_tail, "gelu-tanh tail")  # gelu_tanh_table.ts
    phi_pieces(8, 5.6, 6, True)  # phi_table.ts PHI8_*
    phi_pieces(8, 5.6, 6, True, gelu_tanh_tail, "gelu-tanh tail")  # gelu_tanh_table.ts (AVX2)
    odd_rounded_pieces(32, 0.3125, 5)  # tanh_table.ts TANH_* (AVX-512)
    odd_rounded_pieces(32, 0.15625, 5, fn=mp.erf, name="erf")  # erf_table.ts ERF_* (AVX-512)
    odd_rounded_pieces(32, 0.53125, 5, fn=lambda a: mp.log1p(mp.exp(-a)), name="softplus tail",
                       odd=False, last=0.0)  # softplus_table.ts (AVX-512)
