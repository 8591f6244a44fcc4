//! Legacy store bodies (`POST /api/{project_id}/store/`).

use std::borrow::Cow;
use std::io::Read;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::Error;

/// Standard alphabet, padding optional (old SDKs are not consistent).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a legacy store body to the event JSON.
///
/// A body whose first non-whitespace byte is `{` is JSON and returned as is
/// (borrowed, no copy). Anything else is base64 (whitespace ignored), and the
/// decoded bytes are zlib (what old SDKs send), gzip, or plain JSON. The
/// decompressed size is cut off at `max_decoded_size` while decompressing, so
/// a compression bomb costs at most that much memory.
///
/// This does not handle the HTTP `Content-Encoding`; undo that first.
///
/// ```
/// use periscope_sentry_envelope::decode_store_body;
/// let json = decode_store_body(br#"{"message":"hi"}"#, 1 << 20).unwrap();
/// assert_eq!(&*json, br#"{"message":"hi"}"#);
/// ```
pub fn decode_store_body(body: &[u8], max_decoded_size: usize) -> Result<Cow<'_, [u8]>, Error> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(Error::EmptyBody);
    };
    if body[start..].starts_with(b"\xef\xbb\xbf{") {
        // A UTF-8 byte-order mark before the JSON (some .NET clients).
        return decode_store_body(&body[start + 3..], max_decoded_size);
    }
    if body[start] == b'{' {
        if body.len() > max_decoded_size {
            return Err(Error::StoreBodyTooLarge {
                max: max_decoded_size,
            });
        }
        return Ok(Cow::Borrowed(body));
    }
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = BASE64.decode(&compact).map_err(Error::StoreBodyBase64)?;
    let limit = u64::try_from(max_decoded_size).unwrap_or(u64::MAX);
    let decoded = match raw.as_slice() {
        [] => return Err(Error::EmptyBody),
        [b'{', ..] => raw,
        [0x1f, 0x8b, ..] => inflate(flate2::read::GzDecoder::new(raw.as_slice()), limit)?,
        [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 => {
            inflate(flate2::read::ZlibDecoder::new(raw.as_slice()), limit)?
        }
        [first, ..] => return Err(Error::StoreBodyUnknownFormat { first: *first }),
    };
    if decoded.len() > max_decoded_size {
        return Err(Error::StoreBodyTooLarge {
            max: max_decoded_size,
        });
    }
    Ok(Cow::Owned(decoded))
}

fn inflate(reader: impl Read, limit: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(Error::StoreBodyCompression)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn json_is_borrowed() {
        let body = b"  {\"a\":1}";
        assert!(matches!(decode_store_body(body, 100), Ok(Cow::Borrowed(_))));
        assert!(matches!(
            decode_store_body(body, 3),
            Err(Error::StoreBodyTooLarge { max: 3 })
        ));
        assert!(matches!(
            decode_store_body(b" \n", 100),
            Err(Error::EmptyBody)
        ));
        assert_eq!(&*decode_store_body(b"\xef\xbb\xbf{}", 100).unwrap(), b"{}");
        assert!(crate::Event::from_slice(b"\xef\xbb\xbf{}").is_ok());
    }

    #[test]
    fn base64_zlib() {
        let json = br#"{"message":"hello"}"#;
        let mut body = BASE64.encode(zlib(json)).into_bytes();
        body.insert(10, b'\n');
        assert_eq!(&*decode_store_body(&body, 1000).unwrap(), json);
        assert!(matches!(
            decode_store_body(&body, 5),
            Err(Error::StoreBodyTooLarge { max: 5 })
        ));
        let plain = BASE64.encode(json);
        assert_eq!(&*decode_store_body(plain.as_bytes(), 1000).unwrap(), json);
    }

    #[test]
    fn bad_bodies() {
        assert!(matches!(
            decode_store_body(b"%%%", 100),
            Err(Error::StoreBodyBase64(_))
        ));
        let not_zlib = BASE64.encode(b"\x78\x9cgarbage");
        assert!(matches!(
            decode_store_body(not_zlib.as_bytes(), 100),
            Err(Error::StoreBodyCompression(_))
        ));
        let unknown = BASE64.encode(b"hello");
        assert!(matches!(
            decode_store_body(unknown.as_bytes(), 100),
            Err(Error::StoreBodyUnknownFormat { first: b'h' })
        ));
    }

    #[test]
    fn bomb_is_cut_off() {
        let big = vec![b' '; 10_000_000];
        let body = BASE64.encode(zlib(&big));
        assert!(matches!(
            decode_store_body(body.as_bytes(), 1 << 20),
            Err(Error::StoreBodyTooLarge { .. })
        ));
    }
}
