//! G.711 µ-law and A-law (ITU-T G.711). Decoding uses 256-entry tables built at compile
//! time; encoding is a few shifts. No allocation.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Linear 16-bit PCM to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (31 - (s as u32).leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

const fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Linear 16-bit PCM to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s >= 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s - 1;
    }
    s = s.min(32767);
    let encoded = if s < 256 {
        s >> 4
    } else {
        let exponent = 31 - (s as u32).leading_zeros() as i32 - 7;
        let mantissa = (s >> (exponent + 3)) & 0x0f;
        (exponent << 4) | mantissa
    };
    ((sign | encoded) ^ 0x55) as u8
}

const fn alaw_decode(a: u8) -> i16 {
    let a = a ^ 0x55;
    let sign = a & 0x80;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode(i as u8)
        } else {
            ulaw_decode(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW: [i16; 256] = table(false);
static ALAW: [i16; 256] = table(true);

pub fn ulaw_to_linear(u: u8) -> i16 {
    ULAW[u as usize]
}

pub fn alaw_to_linear(a: u8) -> i16 {
    ALAW[a as usize]
}

/// The encoded value of silence.
pub const ULAW_SILENCE: u8 = 0xff;
pub const ALAW_SILENCE: u8 = 0xd5;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x2a), -32256);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }

    #[test]
    fn every_code_decodes_and_re_encodes_to_itself() {
        for c in 0..=255u8 {
            if c != 0x7f {
                // 0x7f and 0xff both decode to 0 in µ-law (negative and positive zero).
                assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), c, "ulaw {c:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#x}");
        }
    }

    fn step_ulaw(x: i16) -> i32 {
        // Quantisation step of the segment x falls in, µ-law.
        let m = (x as i32).abs().min(CLIP) + BIAS;
        1 << ((31 - (m as u32).leading_zeros() as i32 - 7).clamp(0, 7) + 3)
    }

    proptest! {
        #[test]
        fn ulaw_round_trip_is_within_one_step(x in any::<i16>()) {
            let y = ulaw_to_linear(linear_to_ulaw(x)) as i32;
            prop_assert!((y - (x as i32).clamp(-CLIP, CLIP)).abs() <= step_ulaw(x), "{x} -> {y}");
        }

        #[test]
        fn alaw_round_trip_is_within_one_step(x in any::<i16>()) {
            let y = alaw_to_linear(linear_to_alaw(x)) as i32;
            let m = (x as i32).abs();
            let step = if m < 512 { 16 } else { 1 << (31 - (m as u32).leading_zeros() as i32 - 3) };
            prop_assert!((y - x as i32).abs() <= step, "{x} -> {y}");
        }
    }
}
