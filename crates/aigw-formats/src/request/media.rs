//! Images: `data:` URLs, base64 validation.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::FormatError;
use crate::ir::{Image, ImageSource};

/// Standard alphabet; padding optional, since clients differ on it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Check that `data` is valid base64, naming `path` if not.
pub(crate) fn check_base64(data: &str, path: &str) -> Result<(), FormatError> {
    // Decoding is the only complete check (length, alphabet, trailing bits);
    // images are small next to the upstream call this guards.
    BASE64
        .decode(data.as_bytes())
        .map(|_| ())
        .map_err(|e| FormatError::invalid_value(path, format!("invalid base64 image data: {e}")))
}

/// An image from an OpenAI `image_url.url`: a `data:<mime>;base64,<data>` URL
/// becomes validated inline data, anything else stays a URL.
pub(crate) fn image_from_url(url: &str, path: String) -> Result<Image, FormatError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(Image {
            source: ImageSource::Url(url.to_owned()),
            path,
        });
    };
    let Some((header, data)) = rest.split_once(',') else {
        return Err(FormatError::invalid_value(
            path,
            "malformed data URL: no `,`",
        ));
    };
    let Some(mime) = header.strip_suffix(";base64") else {
        return Err(FormatError::invalid_value(
            path,
            "data URL images must be base64-encoded",
        ));
    };
    // Parameters such as `;charset=` may precede `;base64`; the media type is the first item.
    let media_type = mime.split(';').next().unwrap_or_default().trim();
    if media_type.is_empty() {
        return Err(FormatError::invalid_value(
            path,
            "data URL has no media type",
        ));
    }
    check_base64(data, &path)?;
    Ok(Image {
        source: ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        },
        path,
    })
}

/// An image as a `data:` URL (for OpenAI upstreams).
pub(crate) fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_parse_and_validate() {
        let img = image_from_url("data:image/png;base64,aGVsbG8=", "p".into()).unwrap();
        assert!(
            matches!(img.source, ImageSource::Base64 { ref media_type, .. } if media_type == "image/png")
        );
        assert!(image_from_url("data:image/png;base64,aGVsbG8", "p".into()).is_ok());
        let err = image_from_url(
            "data:image/png;base64,!!!",
            "messages[0].content[1].image_url.url".into(),
        )
        .unwrap_err();
        assert_eq!(err.path(), Some("messages[0].content[1].image_url.url"));
        assert!(image_from_url("data:image/png,raw", "p".into()).is_err());
        assert!(matches!(
            image_from_url("https://x/y.png", "p".into())
                .unwrap()
                .source,
            ImageSource::Url(_)
        ));
    }
}
