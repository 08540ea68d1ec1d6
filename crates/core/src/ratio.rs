//! Frame ratios: the aspects clients ask for and the pixel pairs providers take.

use std::fmt;

/// An aspect from the contract's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aspect {
    Landscape16x9,
    Portrait9x16,
    Square,
    Landscape4x3,
    Portrait3x4,
    Cinema21x9,
}

impl Aspect {
    pub const ALL: [Aspect; 6] = [
        Aspect::Landscape16x9,
        Aspect::Portrait9x16,
        Aspect::Square,
        Aspect::Landscape4x3,
        Aspect::Portrait3x4,
        Aspect::Cinema21x9,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Aspect::Landscape16x9 => "16:9",
            Aspect::Portrait9x16 => "9:16",
            Aspect::Square => "1:1",
            Aspect::Landscape4x3 => "4:3",
            Aspect::Portrait3x4 => "3:4",
            Aspect::Cinema21x9 => "21:9",
        }
    }

    fn as_fraction(self) -> f64 {
        match self {
            Aspect::Landscape16x9 => 16.0 / 9.0,
            Aspect::Portrait9x16 => 9.0 / 16.0,
            Aspect::Square => 1.0,
            Aspect::Landscape4x3 => 4.0 / 3.0,
            Aspect::Portrait3x4 => 3.0 / 4.0,
            Aspect::Cinema21x9 => 21.0 / 9.0,
        }
    }

    /// The aspect nearest to `width:height` (on a log scale, so 2:1 and 1:2 are equally far from 1:1).
    pub fn nearest(width: u32, height: u32) -> Aspect {
        let target = (f64::from(width.max(1)) / f64::from(height.max(1))).ln();
        let mut best = Aspect::Landscape16x9;
        let mut best_distance = f64::INFINITY;
        for aspect in Aspect::ALL {
            let distance = (aspect.as_fraction().ln() - target).abs();
            if distance < best_distance {
                best = aspect;
                best_distance = distance;
            }
        }
        best
    }
}

/// What a client may send as `ratio`: an aspect (`"16:9"`) or a provider pixel pair (`"1280:720"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratio {
    Aspect(Aspect),
    Pixels { width: u32, height: u32 },
}

/// A provider's table from aspect to the pixel pair it accepts.
pub type PixelTable = [(Aspect, &'static str); 6];

/// Runway's video ratios (gen4_turbo / gen4_aleph / act_two).
pub const RUNWAY_VIDEO_PIXELS: PixelTable = [
    (Aspect::Landscape16x9, "1280:720"),
    (Aspect::Portrait9x16, "720:1280"),
    (Aspect::Square, "960:960"),
    (Aspect::Landscape4x3, "1104:832"),
    (Aspect::Portrait3x4, "832:1104"),
    (Aspect::Cinema21x9, "1584:672"),
];

/// Runway's image ratios (gen4_image).
pub const RUNWAY_IMAGE_PIXELS: PixelTable = [
    (Aspect::Landscape16x9, "1920:1080"),
    (Aspect::Portrait9x16, "1080:1920"),
    (Aspect::Square, "1024:1024"),
    (Aspect::Landscape4x3, "1440:1080"),
    (Aspect::Portrait3x4, "1080:1440"),
    (Aspect::Cinema21x9, "2112:912"),
];

/// Largest side we accept in a pixel pair; anything beyond is a typo, not a video.
pub(crate) const MAX_SIDE: u32 = 16_384;

impl Ratio {
    /// Parses `"16:9"` or `"1280:720"`. The error says what is expected.
    pub fn parse(text: &str) -> Result<Ratio, String> {
        if let Some(aspect) = Aspect::ALL.into_iter().find(|a| a.as_str() == text) {
            return Ok(Ratio::Aspect(aspect));
        }
        let expected = || {
            format!(
                "expected an aspect ({}) or a pixel pair like \"1280:720\"",
                Aspect::ALL.map(Aspect::as_str).join(", ")
            )
        };
        let (w, h) = text.split_once(':').ok_or_else(expected)?;
        let width: u32 = w.trim().parse().map_err(|_| expected())?;
        let height: u32 = h.trim().parse().map_err(|_| expected())?;
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(format!("each side must be between 1 and {MAX_SIDE}"));
        }
        Ok(Ratio::Pixels { width, height })
    }

    /// The aspect for providers that take aspects; a pixel pair maps to its nearest aspect.
    pub fn aspect(self) -> Aspect {
        match self {
            Ratio::Aspect(a) => a,
            Ratio::Pixels { width, height } => Aspect::nearest(width, height),
        }
    }

    /// The pixel pair for providers that take pixels; a client's own pixel pair passes as is.
    pub fn pixels(self, table: &PixelTable) -> String {
        match self {
            Ratio::Pixels { width, height } => format!("{width}:{height}"),
            Ratio::Aspect(a) => table
                .iter()
                .find(|(aspect, _)| *aspect == a)
                .map(|(_, px)| (*px).to_string())
                .unwrap_or_else(|| a.as_str().to_string()),
        }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ratio::Aspect(a) => f.write_str(a.as_str()),
            Ratio::Pixels { width, height } => write!(f, "{width}:{height}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aspects_and_pixels() {
        assert_eq!(
            Ratio::parse("16:9"),
            Ok(Ratio::Aspect(Aspect::Landscape16x9))
        );
        assert_eq!(
            Ratio::parse("1280:720"),
            Ok(Ratio::Pixels {
                width: 1280,
                height: 720
            })
        );
        assert!(Ratio::parse("wide").is_err());
        assert!(Ratio::parse("0:720").is_err());
        assert!(Ratio::parse("99999999:1").is_err());
    }

    #[test]
    fn converts_aspect_to_provider_pixels_and_back() {
        let r = Ratio::Aspect(Aspect::Portrait9x16);
        assert_eq!(r.pixels(&RUNWAY_VIDEO_PIXELS), "720:1280");
        assert_eq!(r.pixels(&RUNWAY_IMAGE_PIXELS), "1080:1920");
        let px = Ratio::parse("1280:768").unwrap_or(Ratio::Aspect(Aspect::Square));
        assert_eq!(px.aspect(), Aspect::Landscape16x9);
        assert_eq!(px.pixels(&RUNWAY_VIDEO_PIXELS), "1280:768");
        assert_eq!(Aspect::nearest(1584, 672), Aspect::Cinema21x9);
        assert_eq!(Aspect::nearest(960, 960), Aspect::Square);
    }
}
