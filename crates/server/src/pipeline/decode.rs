//! Request bodies: `Content-Encoding` decoding with a cap on the decoded size.
//!
//! Every decoder is driven through [`std::io::Read::take`], so a decompression bomb is
//! cut off as soon as it produces one byte more than the limit: memory never holds
//! more than `limit + 1` decoded bytes, whatever the compression ratio.

use std::io::Read;

/// A supported `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// No encoding (absent, empty, `identity`, or the `utf-8` some old SDKs send).
    Identity,
    /// `gzip` / `x-gzip`.
    Gzip,
    /// `deflate`: zlib-wrapped deflate (raw deflate is accepted as a fallback).
    Deflate,
    /// `br`.
    Brotli,
    /// `zstd`.
    Zstd,
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The `Content-Encoding` is not one we decode.
    #[error("unsupported Content-Encoding {0:?} (supported: gzip, deflate, br, zstd)")]
    UnsupportedEncoding(String),
    /// The decoded body is larger than allowed.
    #[error("decoded body exceeds {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The compressed data is corrupt.
    #[error("cannot decode {encoding} body: {reason}")]
    Corrupt {
        /// The encoding that failed.
        encoding: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

impl Encoding {
    /// Parses a `Content-Encoding` header value (case-insensitive, surrounding blanks
    /// ignored). Several comma-separated codings are not supported by any SDK and are
    /// refused.
    pub(crate) fn parse(value: &str) -> Result<Self, DecodeError> {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "" | "identity" | "utf-8" | "utf8" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "br" => Ok(Self::Brotli),
            "zstd" => Ok(Self::Zstd),
            _ => Err(DecodeError::UnsupportedEncoding(value.trim().to_owned())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// Decodes `body` per `encoding`, refusing to produce more than `limit` bytes.
pub(crate) fn decode(
    encoding: Encoding,
    body: bytes::Bytes,
    limit: usize,
) -> Result<bytes::Bytes, DecodeError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                Err(DecodeError::TooLarge { limit })
            } else {
                Ok(body)
            }
        }
        Encoding::Gzip => read_capped(
            encoding,
            flate2::read::MultiGzDecoder::new(&body[..]),
            limit,
        ),
        Encoding::Deflate => {
            match read_capped(encoding, flate2::read::ZlibDecoder::new(&body[..]), limit) {
                Err(DecodeError::Corrupt { .. }) => {
                    // Some clients send raw deflate under this name.
                    read_capped(
                        encoding,
                        flate2::read::DeflateDecoder::new(&body[..]),
                        limit,
                    )
                }
                other => other,
            }
        }
        Encoding::Brotli => {
            read_capped(encoding, brotli::Decompressor::new(&body[..], 8192), limit)
        }
        Encoding::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(&body[..]).map_err(|e| DecodeError::Corrupt {
                    encoding: encoding.name(),
                    reason: e.to_string(),
                })?;
            read_capped(encoding, decoder, limit)
        }
    }
}

/// Whatever the start of `body` decodes to, at most `cap` bytes, even if `body` is
/// cut short or corrupt further on (used to read an envelope's first line before
/// the rest has arrived).
pub(crate) fn prefix(encoding: Encoding, body: &[u8], cap: usize) -> Vec<u8> {
    use std::io::Write;

    /// Keeps the first `cap` bytes written, then refuses more.
    struct Capped<'a> {
        out: &'a mut Vec<u8>,
        cap: usize,
    }
    impl Write for Capped<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.cap.saturating_sub(self.out.len());
            if room == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            let n = room.min(buf.len());
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Push-style decoders produce everything the input so far allows, without
    // needing the end of the stream; errors (the cap, a cut or corrupt input) just
    // end the output.
    fn feed(mut decoder: impl Write, body: &[u8]) {
        let _ = decoder.write_all(body);
        let _ = decoder.flush();
    }
    let mut out = Vec::new();
    fn sink(out: &mut Vec<u8>, cap: usize) -> Capped<'_> {
        Capped { out, cap }
    }
    match encoding {
        Encoding::Identity => out.extend_from_slice(&body[..body.len().min(cap)]),
        Encoding::Gzip => feed(
            flate2::write::MultiGzDecoder::new(sink(&mut out, cap)),
            body,
        ),
        Encoding::Deflate => {
            feed(flate2::write::ZlibDecoder::new(sink(&mut out, cap)), body);
            if out.is_empty() {
                feed(
                    flate2::write::DeflateDecoder::new(sink(&mut out, cap)),
                    body,
                );
            }
        }
        Encoding::Brotli => feed(
            brotli::DecompressorWriter::new(sink(&mut out, cap), 4096),
            body,
        ),
        Encoding::Zstd => {
            if let Ok(d) = zstd::stream::write::Decoder::new(sink(&mut out, cap)) {
                feed(d, body);
            }
        }
    }
    out
}

fn read_capped(
    encoding: Encoding,
    reader: impl Read,
    limit: usize,
) -> Result<bytes::Bytes, DecodeError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt {
            encoding: encoding.name(),
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(bytes::Bytes::from(out))
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_of_cut_bodies() {
        use std::io::Write;
        let text: Vec<u8> = (0..60_000u64)
            .flat_map(|i| {
                format!("{{\"n\":{}}}\n", i.wrapping_mul(2654435761) % 1_000_003).into_bytes()
            })
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let head = super::prefix(super::Encoding::Gzip, &gz[..gz.len() / 2], 64);
        assert_eq!(&head[..], &text[..64]);
        let z = zstd::encode_all(&text[..], 3).unwrap();
        let head = super::prefix(super::Encoding::Zstd, &z[..z.len() / 2], 20);
        assert_eq!(&head[..], &text[..20]);
        assert!(super::prefix(super::Encoding::Brotli, b"junk", 20).len() <= 20);
    }

    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn parses_encodings() {
        assert_eq!(Encoding::parse("GZIP").unwrap(), Encoding::Gzip);
        assert_eq!(Encoding::parse("x-gzip").unwrap(), Encoding::Gzip);
        assert_eq!(Encoding::parse(" ").unwrap(), Encoding::Identity);
        assert_eq!(Encoding::parse("utf-8").unwrap(), Encoding::Identity);
        assert!(matches!(
            Encoding::parse("lzma"),
            Err(DecodeError::UnsupportedEncoding(_))
        ));
    }

    #[test]
    fn round_trips_every_encoding() {
        let data = br#"{"message":"hello"}"#.repeat(100);
        let gz = gzip(&data);
        assert_eq!(
            &decode(Encoding::Gzip, gz.into(), 1 << 20).unwrap()[..],
            &data[..]
        );

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        assert_eq!(
            &decode(Encoding::Deflate, z.finish().unwrap().into(), 1 << 20).unwrap()[..],
            &data[..]
        );

        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&data).unwrap();
        assert_eq!(
            &decode(Encoding::Deflate, raw.finish().unwrap().into(), 1 << 20).unwrap()[..],
            &data[..]
        );

        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(&data).unwrap();
        }
        assert_eq!(
            &decode(Encoding::Brotli, br.into(), 1 << 20).unwrap()[..],
            &data[..]
        );

        let zs = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(
            &decode(Encoding::Zstd, zs.into(), 1 << 20).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn bombs_are_cut_off() {
        let zeros = vec![0u8; 64 << 20];
        let gz = gzip(&zeros);
        assert!(gz.len() < 200_000, "compressed {}", gz.len());
        assert_eq!(
            decode(Encoding::Gzip, gz.into(), 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
        let zs = zstd::encode_all(&zeros[..], 3).unwrap();
        assert_eq!(
            decode(Encoding::Zstd, zs.into(), 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(matches!(
            decode(Encoding::Gzip, bytes::Bytes::from_static(b"not gzip"), 100),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(Encoding::Zstd, bytes::Bytes::from_static(b"not zstd"), 100),
            Err(DecodeError::Corrupt { .. })
        ));
        assert_eq!(
            decode(
                Encoding::Identity,
                bytes::Bytes::from_static(b"0123456789"),
                5
            ),
            Err(DecodeError::TooLarge { limit: 5 })
        );
    }
}
