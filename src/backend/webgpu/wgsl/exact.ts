// WGSL helpers that reproduce the reference's roundings exactly, in integer arithmetic, so GPU results can be
// compared bit for bit instead of within a tolerance. WGSL guarantees correctly rounded f32 +, −, × but only a
// 2.5-ulp f32 division and has no f64, while the reference rounds through f64 in three places:
//   - an i8 GEMM's output fround(α·s) with α an f64 (often sa·sb, a 48-bit product) and s the exact i32 sum:
//     the product is rounded to f64 (53 bits) and then to f32 (24 bits) — `round_alpha_product` does both
//     roundings on a 96-bit integer product;
//   - the absmax scale fround(absmax/127): `absmax_scale_bits` by integer long division with a sticky bit;
//   - the int8 code RNE(x/scale) with the quotient in f64: `encode_int8` takes the f32 quotient as a first
//     guess and settles the rounding by comparing x with (c ± ½)·scale exactly (scale split into two 12-bit
//     halves, so every product is exact and the one subtraction is exact by Sterbenz's lemma).
// Not reproduced: results in the f32 subnormal range (below 2^-126), where WGSL may flush to zero.

/** 96-bit unsigned integer arithmetic on vec3<u32> (x = low limb) and the f64→f32 double rounding of α·s. */
export const WGSL_ALPHA_PRODUCT = /* wgsl */ `
// (low, high) 32-bit halves of the 64-bit product a·b.
fn mul32(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

fn limb(p: vec3<u32>, i: i32) -> u32 {
  if (i == 0) { return p.x; }
  if (i == 1) { return p.y; }
  if (i == 2) { return p.z; }
  return 0u;
}

// Index of the highest set bit, −1 for zero.
fn u96_top(p: vec3<u32>) -> i32 {
  if (p.z != 0u) { return 64 + i32(firstLeadingBit(p.z)); }
  if (p.y != 0u) { return 32 + i32(firstLeadingBit(p.y)); }
  if (p.x != 0u) { return i32(firstLeadingBit(p.x)); }
  return -1;
}

fn u96_shr(p: vec3<u32>, d: u32) -> vec3<u32> {
  let ws = i32(d / 32u);
  let bs = d % 32u;
  var r = vec3<u32>(0u, 0u, 0u);
  for (var i = 0; i < 3; i++) {
    let lo = limb(p, i + ws);
    let hi = limb(p, i + ws + 1);
    // a shift by 32 is taken mod 32 in WGSL, hence the select for bs = 0
    r[i] = select((lo >> bs) | (hi << (32u - bs)), lo, bs == 0u);
  }
  return r;
}

// Any bit set at a position below n.
fn u96_any_below(p: vec3<u32>, n: u32) -> bool {
  let w = i32(n / 32u);
  let b = n % 32u;
  var any = false;
  for (var i = 0; i < 3; i++) {
    if (i < w) {
      any = any || limb(p, i) != 0u;
    } else if (i == w && b > 0u) {
      any = any || (limb(p, i) & ((1u << b) - 1u)) != 0u;
    }
  }
  return any;
}

// Round to nearest, ties to even, of p / 2^d (d ≥ 1).
fn u96_round_shift(p: vec3<u32>, d: u32) -> vec3<u32> {
  var q = u96_shr(p, d);
  let guard = ((limb(p, i32((d - 1u) / 32u)) >> ((d - 1u) % 32u)) & 1u) == 1u;
  let sticky = u96_any_below(p, d - 1u);
  if (guard && (sticky || (q.x & 1u) == 1u)) {
    q.x += 1u;
    if (q.x == 0u) {
      q.y += 1u;
      if (q.y == 0u) { q.z += 1u; }
    }
  }
  return q;
}

// The f32 ±m·2^e for m < 2^25 with at most 24 significant bits; infinity above the f32 range, the nearest
// subnormal below it.
fn f32_from_parts(neg: bool, m: u32, e: i32) -> f32 {
  let sign = select(0u, 0x80000000u, neg);
  if (m == 0u) { return bitcast<f32>(sign); }
  let t = i32(firstLeadingBit(m));
  let be = e + t + 127;
  var bits: u32;
  if (be >= 255) {
    bits = 0x7f800000u;
  } else if (be >= 1) {
    let mant = select(m << u32(23 - t), m >> u32(t - 23), t > 23);
    bits = (u32(be) << 23u) | (mant & 0x7fffffu);
  } else {
    // subnormal: the multiple of 2^-149 nearest m·2^e
    let d = -149 - e;
    if (d <= 0) {
      bits = m << u32(-d);
    } else if (d > 26) {
      bits = 0u;
    } else {
      let p = u96_round_shift(vec3<u32>(m, 0u, 0u), u32(d));
      bits = p.x;
    }
  }
  return bitcast<f32>(sign | bits);
}

// fround(v·α) with the product rounded to f64 first, as the reference computes it in JavaScript, for
// v = ±vm·2^ve (vm a u32) and α = ±(alo + 2^32·ahi)·2^ae (the mantissa below 2^53).
fn round_product(vm: u32, ve: i32, vneg: bool, alo: u32, ahi: u32, ae: i32, aneg: bool) -> f32 {
  let neg = vneg != aneg;
  let l = mul32(alo, vm);
  let h = mul32(ahi, vm);
  let mid = l.y + h.x;
  var p = vec3<u32>(l.x, mid, h.y + select(0u, 1u, mid < l.y));
  var e = ae + ve;
  var t = u96_top(p);
  if (t < 0) { return bitcast<f32>(select(0u, 0x80000000u, neg)); }
  if (t > 52) {
    let d = u32(t - 52);
    p = u96_round_shift(p, d);
    e += i32(d);
    t = u96_top(p);
  }
  if (t > 23) {
    let d = u32(t - 23);
    p = u96_round_shift(p, d);
    e += i32(d);
  }
  return f32_from_parts(neg, p.x, e);
}

// fround(α·s) for an exact integer sum s.
fn round_alpha_product(s: i32, alo: u32, ahi: u32, ae: i32, aneg: bool) -> f32 {
  return round_product(select(bitcast<u32>(s), 0u - bitcast<u32>(s), s < 0), 0, s < 0, alo, ahi, ae, aneg);
}

// An f32's magnitude as m·2^e (m < 2^24): scales multiplied exactly on the device.
fn f32_parts(v: f32) -> vec2<i32> {
  let b = bitcast<u32>(v) & 0x7fffffffu;
  let ef = b >> 23u;
  let frac = b & 0x7fffffu;
  if (ef == 0u) { return vec2<i32>(i32(frac), -149); }
  return vec2<i32>(i32(frac | 0x800000u), i32(ef) - 150);
}
`;

/**
 * Absmax scales and the int8 code, bit-identical to src/quant's quantize for finite, normal-range inputs.
 * absmax_scale_bits takes qmax as qodd·2^qshift: 127 = 127·2^0 and the minifloats' 448, 57344, 28 = 7·2^j, so
 * dividing by the odd part with an integer long division and shifting the exponent is the whole job.
 */
export const WGSL_EXACT_QUANT = /* wgsl */ `
// Bits of fround(absmax/(qodd·2^qshift)) (absmax ≥ 0 finite, given as bits): 1.0 for 0, the smallest subnormal
// instead of 0. qodd odd and ≤ 127, so the quotient below keeps at least 25 significant bits.
fn absmax_scale_bits(ab: u32, qodd: u32, qshift: i32) -> u32 {
  if (ab == 0u) { return 0x3f800000u; }
  let ef = ab >> 23u;
  let frac = ab & 0x7fffffu;
  let m = select(frac, frac | 0x800000u, ef != 0u);
  let e = select(-149, i32(ef) - 150, ef != 0u);
  // absmax/q = (d + r/qodd)·2^(e−8−qshift), d ≥ 2^24 for a normal absmax
  let n = m << 8u;
  let q = n / qodd;
  let r = n % qodd;
  let tq = i32(firstLeadingBit(q));
  let ee = e - 8 - qshift;
  let normal = tq + ee >= -126;
  let d = select(-149 - ee, tq - 23, normal);
  var kept: u32;
  if (d <= 0) {
    kept = q << u32(-d);
  } else if (d >= 32) {
    kept = 0u;
  } else {
    kept = q >> u32(d);
    let guard = ((q >> u32(d - 1)) & 1u) == 1u;
    let sticky = (q & ((1u << u32(d - 1)) - 1u)) != 0u || r != 0u;
    if (guard && (sticky || (kept & 1u) == 1u)) { kept += 1u; }
  }
  var bits = kept;
  if (normal) {
    // kept ∈ [2^23, 2^24]: a carry to 2^24 steps the exponent field by itself
    bits = (u32(tq + ee + 127) << 23u) + kept - 0x800000u;
  }
  return select(bits, 1u, bits == 0u);
}

// Sign of a − m·s, exactly, for a ≥ 0, s > 0 normal and m with at most 12 significant bits (int8's c ± ½,
// a minifloat's midpoints), so that m times either 12-bit half of s is exact.
fn cmp_mul(a: f32, m: f32, s: f32) -> i32 {
  let hi = bitcast<f32>(bitcast<u32>(s) & 0xfffff000u);
  let lo = s - hi;
  let d = a - m * hi;
  let pl = m * lo;
  if (d > pl) { return 1; }
  if (d < pl) { return -1; }
  return 0;
}

fn is_even(c: f32) -> bool {
  return (i32(c) & 1) == 0;
}

// RNE(x/s) clamped to ±127, the quotient's rounding decided exactly (see the file header).
fn encode_int8(x: f32, s: f32) -> i32 {
  let a = abs(x);
  let q = a / s;
  var c = 127.0;
  if (q < 128.0) {
    let c0 = round(q);
    c = c0;
    let up = cmp_mul(a, c0 + 0.5, s);
    if (up > 0) {
      c = c0 + 1.0;
    } else if (up == 0) {
      c = select(c0 + 1.0, c0, is_even(c0));
    } else if (c0 >= 1.0) {
      let dn = cmp_mul(a, c0 - 0.5, s);
      if (dn < 0) {
        c = c0 - 1.0;
      } else if (dn == 0) {
        c = select(c0, c0 - 1.0, is_even(c0 - 1.0));
      }
    }
    c = min(c, 127.0);
  }
  let ci = i32(c);
  return select(ci, -ci, x < 0.0);
}
`;
