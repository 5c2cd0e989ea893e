//! Every compiled kernel against the portable one (bit for bit), the portable one against
//! dequantised f32 (within the activation rounding bound), and the unpacking against candle's
//! dequantisation, on random data and odd shapes.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

use super::*;

const TYPES: [GgmlDType; 8] = [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1,
    GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K];

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// A candle-quantised `[n, k]` weight and its packed form.
fn weight(dtype: GgmlDType, n: usize, k: usize, seed: u64) -> (QTensor, PackedMatrix) {
    let w = Tensor::from_vec(random(n * k, seed), (n, k), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&w, dtype).unwrap();
    let packed = PackedMatrix::from_qtensor(&q).unwrap().unwrap();
    (q, packed)
}

/// Shapes with tails everywhere: rows not a multiple of the tile, k over one chunk and not a
/// multiple of it.
fn shapes(dtype: GgmlDType) -> Vec<(usize, usize)> {
    if dtype.block_size() == 256 { vec![(7, 256), (9, 1280)] } else { vec![(5, 32), (13, 640), (6, 1120)] }
}

/// `Σ|w|·d_x/2` per output: how far activation rounding alone can move a product (blocks of
/// `block` activations share a scale; Q8_0's f16 scale adds its own 2^-11 relative rounding).
fn rounding_bound(w: &[f32], x: &[f32], k: usize, block: usize) -> f64 {
    let amax = |xs: &[f32]| f64::from(xs.iter().fold(0f32, |m, v| m.max(v.abs())));
    x.chunks(block).zip(w.chunks(block)).map(|(xs, ws)| {
        let d = amax(xs) / 127.0;
        let scale_rounding: f64 = xs.iter().zip(ws).map(|(a, b)| f64::from(a.abs() * b.abs())).sum::<f64>() / 2048.0;
        ws.iter().map(|v| f64::from(v.abs())).sum::<f64>() * d / 2.0 + scale_rounding
    }).sum::<f64>() + 1e-5 * k as f64
}

#[test]
fn unpacked_rows_equal_candles_dequantisation() {
    for dtype in TYPES {
        for (n, k) in shapes(dtype) {
            let (q, packed) = weight(dtype, n, k, 1);
            let reference: Vec<Vec<f32>> = q.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
            let mut row = vec![0f32; k];
            for (r, expected) in reference.iter().enumerate() {
                packed.dequantize_row(r, &mut row);
                assert_eq!(&row, expected, "{dtype:?} [{n}, {k}] row {r}");
            }
        }
    }
}

#[test]
fn portable_kernel_is_within_the_activation_rounding_of_f32() {
    for dtype in TYPES {
        for (n, k) in shapes(dtype) {
            let (_, packed) = weight(dtype, n, k, 2);
            let m = 3;
            let x = random(m * k, 3);
            let y = packed.matmul_with(&x, Kernel::Portable);
            let mut w = vec![0f32; k];
            for c in 0..n {
                packed.dequantize_row(c, &mut w);
                for r in 0..m {
                    let xr = &x[r * k..(r + 1) * k];
                    let exact: f64 = w.iter().zip(xr).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
                    let err = (f64::from(y[r * n + c]) - exact).abs();
                    let bound = rounding_bound(&w, xr, k, dtype.block_size().max(32));
                    assert!(err <= bound, "{dtype:?} [{n}, {k}] ({r}, {c}): |{} - {exact}| > {bound}", y[r * n + c]);
                }
            }
        }
    }
}

#[test]
fn every_compiled_kernel_gives_the_portable_bits() {
    let kernels = Kernel::available();
    eprintln!("kernels on this CPU: {:?}", kernels.iter().map(|k| k.name()).collect::<Vec<_>>());
    for dtype in TYPES {
        for (n, k) in shapes(dtype) {
            let (_, packed) = weight(dtype, n, k, 4);
            for m in [1, 2, 3, 4, 5, 9] {
                let x = random(m * k, 5 + m as u64);
                let expected = packed.matmul_with(&x, Kernel::Portable);
                for &kernel in &kernels {
                    let y = packed.matmul_with(&x, kernel);
                    assert_eq!(y, expected, "{} on {dtype:?} [{n}, {k}] m={m}", kernel.name());
                }
            }
        }
    }
}

#[test]
fn a_row_gets_the_same_bits_alone_as_in_any_batch() {
    let (_, packed) = weight(GgmlDType::Q6K, 11, 512, 6);
    let k = 512;
    let x = random(7 * k, 7);
    for kernel in Kernel::available() {
        let together = packed.matmul_with(&x, kernel);
        for r in 0..7 {
            let alone = packed.matmul_with(&x[r * k..(r + 1) * k], kernel);
            assert_eq!(alone, together[r * 11..(r + 1) * 11], "{} row {r}", kernel.name());
        }
    }
}

/// Random block bytes (extreme levels such as -128 in Q8_0, every Q6_K scale) with sane f16
/// scales: the kernels must still agree with each other and with f32.
#[test]
fn random_block_bytes_agree_across_kernels_and_with_f32() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    for ty in BlockType::ALL {
        let (n, k) = (6, 512);
        let mut bytes: Vec<u8> = (0..n * k / ty.weights() * ty.bytes()).map(|_| rng.random()).collect();
        let scale_fields: &[usize] = match ty {
            BlockType::Q4K | BlockType::Q5K | BlockType::Q4_1 | BlockType::Q5_1 => &[0, 2],
            BlockType::Q6K => &[208],
            _ => &[0],
        };
        for block in bytes.chunks_exact_mut(ty.bytes()) {
            for &at in scale_fields {
                let v = half::f16::from_f32(rng.random_range(0.001f32..0.01));
                block[at..at + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
        let packed = PackedMatrix::new(ty, n, k, &bytes).unwrap();
        let x = random(5 * k, 9);
        let expected = packed.matmul_with(&x, Kernel::Portable);
        for kernel in Kernel::available() {
            assert_eq!(packed.matmul_with(&x, kernel), expected, "{} on random {ty:?}", kernel.name());
        }
        let mut w = vec![0f32; k];
        for c in 0..n {
            packed.dequantize_row(c, &mut w);
            for r in 0..5 {
                let xr = &x[r * k..(r + 1) * k];
                let exact: f64 = w.iter().zip(xr).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
                let err = (f64::from(expected[r * n + c]) - exact).abs();
                assert!(err <= rounding_bound(&w, xr, k, ty.weights()), "{ty:?} ({r}, {c}) off by {err}");
            }
        }
    }
}

#[test]
fn the_candle_op_keeps_leading_dimensions_and_embeddings_are_dequantised_rows() {
    let (q, packed) = weight(GgmlDType::Q8_0, 10, 64, 10);
    let packed = Arc::new(packed);
    let x = Tensor::from_vec(random(2 * 3 * 64, 11), (2, 3, 64), &Device::Cpu).unwrap();
    let y = packed.forward(&x).unwrap();
    assert_eq!(y.dims(), &[2, 3, 10]);
    let flat: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    let direct = packed.matmul_with(&x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), Kernel::active().unwrap());
    assert_eq!(flat, direct);
    let ids = Tensor::new(&[[3u32, 9], [0, 3]], &Device::Cpu).unwrap();
    let e: Vec<Vec<Vec<f32>>> = packed.embedding(&ids).unwrap().to_vec3().unwrap();
    let reference: Vec<Vec<f32>> = q.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
    assert_eq!(e[0][1], reference[9]);
    assert_eq!(e[1][0], reference[0]);
    assert!(packed.embedding(&Tensor::new(&[10u32], &Device::Cpu).unwrap()).is_err());
}

#[test]
fn wrong_sizes_are_errors_not_panics() {
    assert!(PackedMatrix::new(BlockType::Q4K, 2, 320, &[0; 2 * 144]).is_err());
    assert!(PackedMatrix::new(BlockType::Q8_0, 2, 64, &[0; 100]).is_err());
}

