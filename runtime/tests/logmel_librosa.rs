//! End-to-end check that `LogMel` equals librosa: synthesise a WAV, featurise
//! it in Rust, and let `benches/logmel_vs_librosa.py` compare.
//!
//! Runs when `python3 -c 'import librosa'` works. Otherwise it prints a skip
//! notice and passes, unless MMV_REQUIRE_LIBROSA=1 (set in CI), where a
//! missing librosa is a failure.

use std::f64::consts::TAU;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use mmv_runtime::audio::{LogMel, LogMelConfig, read_wav};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../benches/logmel_vs_librosa.py"
);

fn librosa_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import librosa, soundfile"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let msg = "python3 with librosa and soundfile not found \
                   (pip install -r benches/requirements.txt)";
        if std::env::var("MMV_REQUIRE_LIBROSA").as_deref() == Ok("1") {
            panic!("MMV_REQUIRE_LIBROSA=1 but {msg}");
        }
        // Straight to the stderr handle: libtest would swallow eprintln! for a
        // passing test, and the skip must be visible in CI logs.
        let _ = writeln!(std::io::stderr(), "SKIPPED logmel_matches_librosa: {msg}");
    }
    ok
}

/// A 1.3 s, 16 kHz test clip: a 100 Hz → 7 kHz chirp, a 1 kHz tone and white
/// noise (the noise keeps every band well above the 1e-6 floor).
fn write_test_wav(path: &Path) {
    let rate = 16_000u32;
    let len = (1.3 * f64::from(rate)) as usize;
    let (f0, f1, dur) = (100.0, 7_000.0, len as f64 / f64::from(rate));
    let mut lcg = 0x2545_f491_4f6c_dd1du64;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..len {
        let t = n as f64 / f64::from(rate);
        // Linear chirp: phase = 2π (f0 t + (f1 - f0) t² / (2 dur)).
        let chirp = (TAU * (f0 * t + (f1 - f0) * t * t / (2.0 * dur))).sin();
        let tone = (TAU * 1_000.0 * t).sin();
        lcg = lcg
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let noise = (lcg >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let x = 0.4 * chirp + 0.3 * tone + 0.05 * noise;
        w.write_sample((x * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Writes `prefix.f32` (raw LE f32) and `prefix.json` in the script's format.
fn write_rust_logmel(wav: &Path, prefix: &Path, config: &LogMelConfig) -> PathBuf {
    let audio = read_wav(wav).unwrap();
    assert_eq!(audio.sample_rate, config.sample_rate);
    let spec = LogMel::new(config.clone()).unwrap().compute(&audio.samples);
    assert_eq!(spec.frames, 1 + audio.samples.len() / config.hop_length);
    let data = prefix.with_extension("f32");
    let bytes: Vec<u8> = spec.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&data, bytes).unwrap();
    let meta = serde_json::json!({
        "frames": spec.frames,
        "n_mels": spec.n_mels,
        "data": data.file_name().unwrap().to_string_lossy(),
        "config": config,
    });
    let meta_path = prefix.with_extension("json");
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    meta_path
}

#[test]
fn logmel_matches_librosa() {
    if !librosa_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mmv-logmel-librosa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("chirp_tone_noise.wav");
    write_test_wav(&wav);

    let configs = [
        LogMelConfig::default(),
        // A second geometry: hop not dividing n_fft, f_max at Nyquist, 64 bands.
        LogMelConfig {
            n_fft: 400,
            hop_length: 160,
            n_mels: 64,
            f_min: 0.0,
            f_max: 8_000.0,
            ..LogMelConfig::default()
        },
    ];
    for (i, config) in configs.iter().enumerate() {
        let meta = write_rust_logmel(&wav, &dir.join(format!("rust_{i}")), config);
        let out = Command::new("python3")
            .arg(SCRIPT)
            .arg(&wav)
            .arg(&meta)
            .output()
            .expect("running python3");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "logmel_vs_librosa.py failed for {config:?}:\n{stdout}\n{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
