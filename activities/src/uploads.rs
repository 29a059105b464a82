//! A client's image, checked before anything keeps it: PNG or JPEG, at most 10 MiB, at most
//! 8192 pixels a side and 40 megapixels as its header declares (checked before it is decoded, so
//! that a small file cannot claim a huge canvas), decodable, and of the type it is sent as. Its
//! EXIF orientation is applied, and it is kept re-encoded as PNG, which carries no metadata.

use std::io::Cursor;

use image::{
    imageops::FilterType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage,
};

/// The largest upload, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// The longest side, in pixels, an image may declare.
pub const MAX_SIDE: u32 = 8192;
/// The most pixels an image may declare.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The types an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
}

impl ImageType {
    /// The type a `Content-Type` names (parameters ignored), if it is one an upload may be.
    pub fn of_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/png" => Some(Self::Png),
            "image/jpeg" | "image/jpg" => Some(Self::Jpeg),
            _ => None,
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// Why an image is refused, in words for the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("the image is larger than 10 MiB")]
    TooLarge,
    #[error("the image is sent as {declared} but its content is not a {declared}")]
    Mismatch { declared: &'static str },
    #[error("the image declares {width}x{height} pixels; at most {MAX_SIDE} a side and 40 megapixels are accepted")]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
}

/// An accepted image: upright, without metadata, as PNG.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub image: DynamicImage,
    pub width: u32,
    pub height: u32,
}

impl Accepted {
    /// The image as PNG bytes.
    pub fn png(&self) -> Vec<u8> {
        encode_png(&self.image)
    }

    /// The image scaled to cover `size` and cropped to it, centred, as PNG: a still of a frame
    /// of that size.
    pub fn fitted_png(&self, (width, height): (u32, u32)) -> Vec<u8> {
        let filled = self
            .image
            .resize_to_fill(width, height, FilterType::CatmullRom);
        encode_png(&DynamicImage::ImageRgb8(RgbImage::from(filled.to_rgb8())))
    }
}

fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("an image in memory encodes as PNG");
    png
}

/// Checks `bytes`, sent as `declared`, and decodes them upright (CPU-bound: call it off the
/// async runtime).
pub fn accept(bytes: &[u8], declared: ImageType) -> Result<Accepted, Refused> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(Refused::TooLarge);
    }
    let mismatch = || Refused::Mismatch {
        declared: declared.name(),
    };
    let found = image::guess_format(bytes).map_err(|_| mismatch())?;
    if found != declared.format() {
        return Err(mismatch());
    }
    let undecodable = |e: image::ImageError| Refused::Undecodable(e.to_string());
    let mut reader = ImageReader::with_format(Cursor::new(bytes), declared.format());
    // The declared size is checked below, where it can be named; the allocation limit is the
    // decoder's own safety net.
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(MAX_PIXELS * 4 * 2);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Refused::TooManyPixels { width, height });
    }
    let orientation = decoder.orientation().map_err(undecodable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    image.apply_orientation(orientation);
    Ok(Accepted {
        width: image.width(),
        height: image.height(),
        image,
    })
}

#[cfg(test)]
mod tests {
    use image::{ImageEncoder, Rgb, RgbImage};

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_pixel(width, height, Rgb([200, 40, 40]));
        encode_png(&DynamicImage::ImageRgb8(image))
    }

    #[test]
    fn a_png_is_accepted_and_fitted_to_cover_a_frame() {
        let accepted = accept(&png(400, 100), ImageType::Png).unwrap();
        assert_eq!((accepted.width, accepted.height), (400, 100));
        let fitted = image::load_from_memory(&accepted.fitted_png((1280, 720))).unwrap();
        assert_eq!((fitted.width(), fitted.height()), (1280, 720));
    }

    #[test]
    fn content_that_is_not_its_declared_type_is_refused() {
        assert_eq!(
            accept(&png(10, 10), ImageType::Jpeg).unwrap_err(),
            Refused::Mismatch {
                declared: "image/jpeg"
            }
        );
        assert!(matches!(
            accept(b"GIF89a not a png", ImageType::Png),
            Err(Refused::Mismatch { .. })
        ));
    }

    /// A PNG bomb: a few kilobytes that declare a canvas of 20000 x 20000.
    #[test]
    fn a_small_file_declaring_a_huge_canvas_is_refused_before_it_is_decoded() {
        let side: u32 = 20_000;
        let mut bomb = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut bomb);
        // Only the header matters: write a tiny image, then patch its declared size.
        encoder
            .write_image(&[0u8; 16], 4, 4, image::ExtendedColorType::L8)
            .unwrap();
        bomb[16..20].copy_from_slice(&side.to_be_bytes());
        bomb[20..24].copy_from_slice(&side.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            accept(&bomb, ImageType::Png).unwrap_err(),
            Refused::TooManyPixels {
                width: side,
                height: side
            }
        );
    }

    /// The CRC-32 of a PNG chunk (its type and data).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }

    #[test]
    fn garbage_after_a_png_signature_is_undecodable_and_an_oversized_file_too_large() {
        let mut garbage = png(8, 8)[..20].to_vec();
        garbage.extend_from_slice(&[0xff; 64]);
        assert!(matches!(
            accept(&garbage, ImageType::Png),
            Err(Refused::Undecodable(_) | Refused::TooManyPixels { .. })
        ));
        let huge = vec![0u8; MAX_UPLOAD_BYTES + 1];
        assert_eq!(
            accept(&huge, ImageType::Png).unwrap_err(),
            Refused::TooLarge
        );
    }

    #[test]
    fn content_types_are_read_by_their_essence() {
        assert_eq!(
            ImageType::of_content_type("image/PNG; charset=binary"),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::of_content_type("image/jpeg"),
            Some(ImageType::Jpeg)
        );
        assert_eq!(ImageType::of_content_type("image/gif"), None);
    }
}
