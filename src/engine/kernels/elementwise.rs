//! The gated-MLP activation on the CPU, fused with its product: `act(gate) · up` in one pass.
//!
//! Why: candle evaluates GELU with a scalar libm `tanhf` per element and runs each elementwise op
//! on its own thread pool; `perf` put 8-10% of prefill in `tanhf`/`expm1f` and 5% in that pool's
//! barrier. Here `exp` is a branch-free polynomial (Cody-Waite reduction and Cephes' degree-6
//! polynomial, within 2 ulp of libm over the range that matters), so the loop vectorises, and
//! rayon's pool (the kernels' threads) splits the rows. Every element is computed alone, so the
//! result never depends on the batch, and the AVX2 copy runs the same operations in the same
//! order (Rust never fuses a multiply and an add on its own): the same bits as the portable one.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::super::EngineError;

/// The gate activation of a gated MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (Llama, Qwen).
    Silu,
    /// tanh-approximated GELU (Gemma).
    GeluTanh,
}

/// `e^x`, 2 ulp from libm for |x| <= 86; saturates to e^-87 below -87 and to e^88 above 88
/// (callers only need the saturation: an activation off by 1e-35 at most); NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + MAGIC) - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// The activation of one value. GELU's `0.5·v·(1 + tanh(u))` is written as its equal
/// `v / (1 + e^{-2u})`, which avoids the cancellation of `1 + tanh(u)` for negative `v`.
#[inline(always)]
pub fn activate(act: Activation, v: f32) -> f32 {
    const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
    match act {
        Activation::Silu => v / (1.0 + exp(-v)),
        Activation::GeluTanh => v / (1.0 + exp(-2.0 * SQRT_TWO_OVER_PI * v * (1.0 + 0.044_715 * v * v))),
    }
}

#[inline(always)]
fn gated_slice(act: Activation, gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = activate(act, g) * u;
    }
}

/// [`gated_slice`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gated_slice_avx2(act: Activation, gate: &[f32], up: &[f32], out: &mut [f32]) {
    gated_slice(act, gate, up, out);
}

/// `act(gate) · up` for two f32 slices of one length, with the given code path.
///
/// # Panics
/// The slices differ in length.
pub fn gated_with(act: Activation, gate: &[f32], up: &[f32], avx2: bool) -> Vec<f32> {
    assert_eq!(gate.len(), up.len(), "gate and up differ in length");
    const PIECE: usize = 4096;
    let mut out = vec![0f32; gate.len()];
    out.par_chunks_mut(PIECE).zip(gate.par_chunks(PIECE)).zip(up.par_chunks(PIECE)).for_each(|((o, g), u)| {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: callers pass `avx2` only where the CPU has it (`gated`, the tests).
            unsafe { gated_slice_avx2(act, g, u, o) };
            return;
        }
        let _ = avx2;
        gated_slice(act, g, u, o);
    });
    out
}

/// Whether this CPU runs the AVX2 copy.
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `act(gate) · up` for CPU tensors of one shape (f32).
///
/// # Errors
/// Shapes differ, a tensor is not f32 or not on the CPU.
pub fn gated(act: Activation, gate: &Tensor, up: &Tensor) -> Result<Tensor, EngineError> {
    if gate.dims() != up.dims() || !gate.device().is_cpu() {
        return Err(EngineError::Input(format!("gated activation: gate {:?} and up {:?} on the CPU", gate.dims(), up.dims())));
    }
    let g: Vec<f32> = gate.flatten_all()?.to_vec1()?;
    let u: Vec<f32> = up.flatten_all()?.to_vec1()?;
    let out = gated_with(act, &g, &u, has_avx2());
    Ok(Tensor::from_vec(out, gate.dims(), &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<f32> {
        let mut v: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 5e-4).collect();
        v.extend([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0, 100.0, -100.0, 1e6, -1e6, f32::MAX, f32::MIN]);
        v
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm_and_saturates() {
        for x in (-86_000..=86_000).map(|i| i as f32 * 1e-3) {
            let (got, want) = (exp(x), x.exp());
            assert!((got - want).abs() <= 2.0 * f32::EPSILON * want, "exp({x}) = {got}, libm {want}");
        }
        assert_eq!(exp(-1e9), exp(-87.0));
        assert!(exp(-1e9) < 1e-37 && exp(1e9).is_finite() && exp(1e9) > 1e38);
        assert!(exp(f32::NAN).is_nan());
    }

    /// The activations in f64, in the textbook formulas.
    fn exact(act: Activation, x: f64) -> f64 {
        match act {
            Activation::Silu => x / (1.0 + (-x).exp()),
            // 0.5·x·(1 + tanh(u)) = x / (1 + e^{-2u}), without the cancellation at negative x.
            Activation::GeluTanh => x / (1.0 + (-2.0 * (2.0 / std::f64::consts::PI).sqrt() * x * (1.0 + 0.044715 * x * x)).exp()),
        }
    }

    #[test]
    fn activations_are_within_a_few_ulp_of_f64_and_of_candle() {
        let v = values();
        let t = Tensor::from_vec(v.clone(), v.len(), &Device::Cpu).unwrap();
        for (act, reference) in [(Activation::GeluTanh, t.gelu().unwrap()), (Activation::Silu, t.silu().unwrap())] {
            let reference: Vec<f32> = reference.to_vec1().unwrap();
            for (&x, candle) in v.iter().zip(reference) {
                let got = activate(act, x);
                let want = exact(act, f64::from(x));
                // exp's condition number is its argument's size: the f32 argument's own rounding
                // (as in candle's formula) moves the result by about ε·|z|.
                let z = match act {
                    Activation::Silu => f64::from(x).abs(),
                    Activation::GeluTanh => (1.6 * f64::from(x) * (1.0 + 0.044715 * f64::from(x).powi(2))).abs(),
                };
                let tolerance = 4.0 * f64::from(f32::EPSILON) * want.abs() * (1.0 + z.min(88.0));
                assert!((f64::from(got) - want).abs() <= tolerance.max(1e-38 * (1.0 + f64::from(x).abs())), "{act:?}({x}) = {got}, f64 {want}");
                // candle's `1 + tanh(u)` rounds to a unit of 2^-24 before the factor `0.5·x`.
                let noise = 4.0 * f32::EPSILON * (candle.abs() + 0.5 * x.abs());
                assert!((got - candle).abs() <= noise, "{act:?}({x}) = {got}, candle {candle}");
            }
        }
        assert!(activate(Activation::GeluTanh, f32::NAN).is_nan() && activate(Activation::Silu, f32::NAN).is_nan());
    }

    #[test]
    fn the_avx2_copy_gives_the_portable_bits_and_the_tensor_form_the_product() {
        let g = values();
        let u: Vec<f32> = g.iter().enumerate().map(|(i, _)| (i % 7) as f32 - 3.0).collect();
        for act in [Activation::GeluTanh, Activation::Silu] {
            let portable = gated_with(act, &g, &u, false);
            if has_avx2() {
                let fast = gated_with(act, &g, &u, true);
                assert!(fast.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()), "{act:?}");
            }
            let tensor = |v: &[f32]| Tensor::from_vec(v.to_vec(), (2, v.len() / 2), &Device::Cpu).unwrap();
            let n = g.len() / 2 * 2;
            let out: Vec<Vec<f32>> = gated(act, &tensor(&g[..n]), &tensor(&u[..n])).unwrap().to_vec2().unwrap();
            assert_eq!(out.concat(), portable[..n].to_vec());
        }
        let wrong = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(gated(Activation::Silu, &wrong, &Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap()).is_err());
    }
}
