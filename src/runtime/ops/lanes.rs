//! SIMD registers of f32 lanes for the register-blocked kernels, one type per instruction
//! set, so each kernel is written once and compiled for AVX-512 and for AVX2.
//!
//! Why not a portable-SIMD crate: the kernels need masked loads and stores of a channel tail
//! and run-time dispatch per function (`#[target_feature]`), which `std::simd` (unstable) and
//! the stable wrappers do not combine.

/// One SIMD register of f32 lanes. `Mask` selects the lanes
/// that hold channels: all of them, except in the last block of a channel count that is not a
/// multiple of the lane count. Callers run in a function compiled for the instruction set.
pub(super) trait Lanes: Copy {
    /// Lanes per register.
    const N: usize;
    /// Which lanes are channels.
    type Mask: Copy;
    /// The first `lanes` lanes (`lanes <= N`).
    unsafe fn mask(lanes: usize) -> Self::Mask;
    /// Loads the masked lanes from `p`; the others are zero and never read.
    unsafe fn load(mask: Self::Mask, p: *const f32) -> Self;
    /// Stores the masked lanes to `p`.
    unsafe fn store(self, mask: Self::Mask, p: *mut f32);
    /// `self * k + acc` in one rounding.
    unsafe fn fmadd(self, k: Self, acc: Self) -> Self;
    /// Every lane `v`.
    unsafe fn splat(v: f32) -> Self;
    /// Each lane clamped to `[low, high]`.
    unsafe fn clamp(self, low: Self, high: Self) -> Self;
    /// The sum of all lanes.
    unsafe fn sum(self) -> f32;
}

/// 16 lanes of AVX-512F, masked by a bit per lane.
#[derive(Clone, Copy)]
pub(super) struct Avx512(std::arch::x86_64::__m512);

impl Lanes for Avx512 {
    const N: usize = 16;
    type Mask = u16;

    #[inline(always)]
    unsafe fn mask(lanes: usize) -> u16 {
        if lanes >= 16 {
            u16::MAX
        } else {
            (1 << lanes) - 1
        }
    }

    #[inline(always)]
    unsafe fn load(mask: u16, p: *const f32) -> Self {
        Self(std::arch::x86_64::_mm512_maskz_loadu_ps(mask, p))
    }

    #[inline(always)]
    unsafe fn store(self, mask: u16, p: *mut f32) {
        std::arch::x86_64::_mm512_mask_storeu_ps(p, mask, self.0);
    }

    #[inline(always)]
    unsafe fn fmadd(self, k: Self, acc: Self) -> Self {
        Self(std::arch::x86_64::_mm512_fmadd_ps(self.0, k.0, acc.0))
    }

    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Self(std::arch::x86_64::_mm512_set1_ps(v))
    }

    #[inline(always)]
    unsafe fn clamp(self, low: Self, high: Self) -> Self {
        use std::arch::x86_64::{_mm512_max_ps, _mm512_min_ps};
        Self(_mm512_min_ps(_mm512_max_ps(self.0, low.0), high.0))
    }

    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        std::arch::x86_64::_mm512_reduce_add_ps(self.0)
    }
}

/// 8 lanes of AVX2 with FMA. Full blocks use plain loads and stores (masked stores are slow on
/// some AMD cores); only a channel tail goes through the lane mask.
#[derive(Clone, Copy)]
pub(super) struct Avx2(std::arch::x86_64::__m256);

impl Lanes for Avx2 {
    const N: usize = 8;
    type Mask = Option<std::arch::x86_64::__m256i>;

    #[inline(always)]
    unsafe fn mask(lanes: usize) -> Self::Mask {
        use std::arch::x86_64::{_mm256_cmpgt_epi32, _mm256_set1_epi32, _mm256_setr_epi32};
        (lanes < 8).then(|| {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(lanes as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        })
    }

    #[inline(always)]
    unsafe fn load(mask: Self::Mask, p: *const f32) -> Self {
        use std::arch::x86_64::{_mm256_loadu_ps, _mm256_maskload_ps};
        Self(match mask {
            None => _mm256_loadu_ps(p),
            Some(m) => _mm256_maskload_ps(p, m),
        })
    }

    #[inline(always)]
    unsafe fn store(self, mask: Self::Mask, p: *mut f32) {
        use std::arch::x86_64::{_mm256_maskstore_ps, _mm256_storeu_ps};
        match mask {
            None => _mm256_storeu_ps(p, self.0),
            Some(m) => _mm256_maskstore_ps(p, m, self.0),
        }
    }

    #[inline(always)]
    unsafe fn fmadd(self, k: Self, acc: Self) -> Self {
        Self(std::arch::x86_64::_mm256_fmadd_ps(self.0, k.0, acc.0))
    }

    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Self(std::arch::x86_64::_mm256_set1_ps(v))
    }

    #[inline(always)]
    unsafe fn clamp(self, low: Self, high: Self) -> Self {
        use std::arch::x86_64::{_mm256_max_ps, _mm256_min_ps};
        Self(_mm256_min_ps(_mm256_max_ps(self.0, low.0), high.0))
    }

    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        use std::arch::x86_64::{
            _mm256_castps256_ps128, _mm256_extractf128_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32,
            _mm_movehl_ps, _mm_shuffle_ps,
        };
        let quad = _mm_add_ps(
            _mm256_castps256_ps128(self.0),
            _mm256_extractf128_ps(self.0, 1),
        );
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)))
    }
}
