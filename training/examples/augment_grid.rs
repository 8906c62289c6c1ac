//! Writes a PNG grid of training clips' first frames (as the video network sees them) under a
//! config's augmentation preset, to look at what training is fed:
//! `cargo run -p mmv-training --example augment_grid -- CONFIG DATA OUT.png`.

use std::path::PathBuf;

use mmv_runtime::text::Vocab;
use mmv_training::config::MmvConfig;
use mmv_training::data::AvDigits;
use mmv_training::data::augment::Augment;
use mmv_training::data::narrations::narration_words;
use mmv_training::data::splits::ClipSplit;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let config = MmvConfig::load(&PathBuf::from(&args[1]))?;
    let data = AvDigits::load(
        &PathBuf::from(&args[2]),
        &config,
        Vocab::from_words(narration_words()),
    )?;
    let augment = Augment::preset(config.data.augment);
    let v = &config.video;
    let (cols, rows) = (8usize, 6usize);
    let side = v.size;
    let mut img = vec![0u8; cols * rows * side * side];
    for k in 0..cols * rows {
        let s = data.sample(ClipSplit::Train, k as u64, 0, &augment);
        let empty = s.text.iter().all(|&t| t == 0);
        let (cx, cy) = ((k % cols) * side, (k / cols) * side);
        for y in 0..side {
            for x in 0..side {
                let mut p = (s.video[y * side + x].clamp(0.0, 1.0) * 255.0) as u8;
                if empty && (x == 0 || y == 0) {
                    p = 128;
                }
                img[(cy + y) * cols * side + cx + x] = p;
            }
        }
    }
    let file = std::fs::File::create(&args[3])?;
    let mut enc = png::Encoder::new(file, (cols * side) as u32, (rows * side) as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img)?;
    Ok(())
}
