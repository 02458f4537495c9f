//! Internet checksums (RFC 1071), in the small pieces both the XDP programs and the tests use.
//!
//! Sums are kept as `u32` accumulators of 16-bit big-endian words and folded at the end;
//! adding is associative, so partial sums of headers can be combined in any order.

/// Folds a 32-bit accumulator into 16 bits with end-around carry.
#[inline(always)]
pub const fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The checksum field for a folded sum (its complement; RFC 768's 0 -> 0xffff is the
/// caller's, for UDP).
#[inline(always)]
pub const fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Sum of the big-endian 16-bit words of 4 bytes (an IPv4 address).
#[inline(always)]
pub const fn sum4(b: [u8; 4]) -> u32 {
    u16::from_be_bytes([b[0], b[1]]) as u32 + u16::from_be_bytes([b[2], b[3]]) as u32
}

/// Sum of the big-endian 16-bit words of 16 bytes (an IPv6 address).
#[inline(always)]
pub const fn sum16(b: &[u8; 16]) -> u32 {
    let mut s = 0u32;
    let mut i = 0;
    while i < 16 {
        s += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
        i += 2;
    }
    s
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from `old`
/// to `new`: HC' = ~(~HC + ~m + m').
#[inline(always)]
pub const fn update(check: u16, old: u16, new: u16) -> u16 {
    !fold(!check as u32 + !old as u32 + new as u32)
}

/// The sum of a TCP/UDP segment (header with its checksum field, and payload) whose checksum
/// is valid, known without reading the payload: the checksum makes pseudo-header + segment
/// sum to 0xffff, so the segment sums to the complement of the pseudo-header's sum. This is
/// how an encapsulating program gets the outer UDP checksum of a whole packet in constant
/// time (Linux calls it local checksum offload).
#[inline(always)]
pub const fn segment_sum_from_pseudo(pseudo: u32) -> u32 {
    !fold(pseudo) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_bytes(b: &[u8]) -> u32 {
        b.chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
            .sum()
    }

    #[test]
    fn ipv4_header_checksum_of_rfc1071_example() {
        // A real IPv4 header (checksum field zeroed) and its known checksum 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00,
            0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish(sum_bytes(&h)), 0xb861);
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut h = [
            0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc6, 0x12, 0x00,
            0x01, 0xc6, 0x12, 0x00, 0xc7,
        ];
        let check = finish(sum_bytes(&h));
        // TTL 64 -> 63 changes the word (ttl, proto).
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] = 63;
        let new = u16::from_be_bytes([h[8], h[9]]);
        assert_eq!(update(check, old, new), finish(sum_bytes(&h)));
    }

    #[test]
    fn segment_sum_is_the_complement_of_the_pseudo_header() {
        // A UDP segment with a valid checksum over a pseudo-header: recompute its sum both ways.
        let (src, dst) = ([198, 18, 0, 1], [198, 18, 0, 10]);
        let mut seg = [
            0x9c, 0x40, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o',
        ];
        let pseudo = sum4(src) + sum4(dst) + 17 + seg.len() as u32;
        let c = finish(pseudo + sum_bytes(&seg));
        seg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(fold(segment_sum_from_pseudo(pseudo)), fold(sum_bytes(&seg)));
    }
}
